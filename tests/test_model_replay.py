"""The replay backend serves recorded rollouts through the model protocol."""

from __future__ import annotations

import json

import pytest

from tater_graph.errors import ConfigError, ContextOverflowError, ModelError
from tater_graph.model.base import GenerationRequest, ModelBackend
from tater_graph.model.replay import ReplayModel, estimate_tokens
from tater_graph.prompts import STOP, build_prompt
from conftest import make_rollout

QUESTION = "Tom has 2 apples and buys 3 more. How many apples does he have?"


@pytest.fixture
def replay(problem):
    return ReplayModel([
        make_rollout(problem, ["Tom starts with 2 apples.", "2 + 3 = 5", "#### 5"]),
        make_rollout(problem, ["Tom buys 3 apples.", "2 * 3 = 6", "#### 6"]),
    ])


def request(prompt: str, seed: int = 0, stop=STOP, max_tokens: int = 256) -> GenerationRequest:
    return GenerationRequest(prompt, max_tokens=max_tokens, seed=seed, stop=stop)


def test_replay_implements_backend_protocol(replay):
    assert isinstance(replay, ModelBackend)


def test_replay_serves_recording_by_seed(replay):
    prompt = build_prompt(QUESTION)

    first = replay.generate(request(prompt, seed=0))
    second = replay.generate(request(prompt, seed=1))

    assert first.text == "Tom starts with 2 apples.\n2 + 3 = 5\n#### 5"
    assert second.text == "Tom buys 3 apples.\n2 * 3 = 6\n#### 6"
    assert replay.generate(request(prompt, seed=2)).text == first.text


def test_replay_continues_matching_prefix(replay):
    prompt = build_prompt(QUESTION, prefix_steps=["Tom buys 3 apples."])

    for seed in range(4):
        assert replay.generate(request(prompt, seed=seed)).text == "2 * 3 = 6\n#### 6"


def test_replay_unknown_prefix_continues_at_same_depth(replay):
    prompt = build_prompt(QUESTION, prefix_steps=["Let me think."])

    assert replay.generate(request(prompt, seed=0)).text == "2 + 3 = 5\n#### 5"


def test_replay_ends_after_last_recorded_step(replay):
    finished = build_prompt(QUESTION, prefix_steps=["Tom buys 3 apples.", "2 * 3 = 6", "#### 6"])
    too_long = build_prompt(QUESTION, prefix_steps=["a", "b", "c", "d"])

    assert replay.generate(request(finished, seed=0)).text == ""
    assert replay.generate(request(too_long, seed=0)).text == ""


def test_replay_newline_stop_returns_one_step(replay):
    generation = replay.generate(request(build_prompt(QUESTION), stop=("\n",)))

    assert generation.text == "Tom starts with 2 apples."
    assert generation.generated_tokens == estimate_tokens("Tom starts with 2 apples.")
    assert generation.finish_reason == "stop"


def test_replay_cuts_at_token_budget(replay):
    generation = replay.generate(request(build_prompt(QUESTION), max_tokens=4))

    assert generation.finish_reason == "length"
    assert generation.generated_tokens <= 4
    assert generation.text == "Tom starts with 2"


def test_replay_counts_only_new_prompt_tokens(problem):
    other = "Ann has 4 pens. How many pens does she have?"
    replay = ReplayModel([make_rollout(problem, ["#### 5"]), make_rollout(problem.__class__(other), ["#### 4"])])
    prompt = build_prompt(QUESTION)

    first = replay.generate(request(prompt))
    second = replay.generate(request(build_prompt(other)))

    assert first.prompt_tokens_evaluated == first.prompt_tokens == estimate_tokens(prompt)
    assert second.prompt_tokens == estimate_tokens(build_prompt(other))
    assert second.prompt_tokens_evaluated == estimate_tokens(f"{other}\nAnswer:\n")  # after the shared header


def test_replay_cache_holds_previous_completion(replay):
    prompt = build_prompt(QUESTION)
    first = replay.generate(request(prompt, seed=0, stop=("\n",)))

    second = replay.generate(request(build_prompt(QUESTION, prefix_steps=[first.text])))

    assert first.text == "Tom starts with 2 apples."
    assert second.prompt_tokens_evaluated == 1  # only the newline after the cached step is new


def test_replay_unknown_question_raises(replay):
    with pytest.raises(ModelError, match="no recorded rollout"):
        replay.generate(request(build_prompt("What is 7 * 8?")))


def test_replay_prompt_over_context_raises(problem):
    small = ReplayModel([make_rollout(problem, ["#### 5"])], n_ctx=50)

    with pytest.raises(ContextOverflowError, match="50-token context"):
        small.generate(request(build_prompt(QUESTION), max_tokens=40))


def test_replay_without_rollouts_raises(problem):
    with pytest.raises(ConfigError, match="no rollouts"):
        ReplayModel([make_rollout(problem, [], error="failed")])


def test_replay_joins_multiline_steps(problem):
    replay = ReplayModel([make_rollout(problem, ["First line\nsecond line", "#### 5"])])

    assert replay.generate(request(build_prompt(QUESTION))).text == "First line second line\n#### 5"


def test_replay_from_processbench_serves_gsm8k():
    replay = ReplayModel.from_processbench("gsm8k")

    assert replay.questions() == 375
    assert replay.name == "replay-processbench-gsm8k"


def test_replay_from_jsonl(tmp_path):
    path = tmp_path / "rollouts.jsonl"
    path.write_text(json.dumps({"question": QUESTION, "steps": ["2 + 3 = 5", "#### 5"]}) + "\n")

    replay = ReplayModel.from_jsonl(path)

    assert replay.generate(request(build_prompt(QUESTION))).text == "2 + 3 = 5\n#### 5"


def test_processbench_split_unknown_raises():
    with pytest.raises(ConfigError, match="gsm8k, math, all"):
        ReplayModel.from_processbench("aime")


@pytest.mark.parametrize("text, expected", [("", 0), ("12", 2), ("apples", 1), ("internationalization", 3),
                                            ("a, b.", 4)])
def test_estimate_tokens_counts_pieces(text, expected):
    assert estimate_tokens(text) == expected
