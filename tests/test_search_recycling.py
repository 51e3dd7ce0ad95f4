"""Best-of-N with each recycling mode, on a real graph and the deterministic fake model."""

from __future__ import annotations

import pytest

from tater_graph.errors import ConfigError
from tater_graph.model.fake import FakeModel
from tater_graph.planner import Planner
from tater_graph.prompts import format_solution
from tater_graph.search import SearchConfig, best_of_n
from tater_graph.search.common import rollout_seed
from tater_graph.search.recycling import RecyclingConfig, vote_decided
from tater_graph.search.sampling import RESAMPLE_STRIDE
from conftest import make_rollout

GOOD = ["Tom starts with 2 apples.", "He buys 3 more, so 2 + 3 = 5.", "#### 5"]
BAD_STEP = "Tom eats 3 apples, so 2 - 3 = -1."
BAD = [BAD_STEP, "#### -1"]


def words(text: str) -> int:
    return len(text.split())


def solution(steps) -> str:
    return format_solution(steps).rstrip("\n")


def config(n: int = 4) -> SearchConfig:
    return SearchConfig(n=n, shots=0, max_tokens=64)


@pytest.fixture
def good_model(problem):
    return FakeModel({problem.question: [solution(GOOD)]})


def test_baseline_generates_every_sample(graph, good_model, problem):
    summary = best_of_n(graph, good_model, [problem], config(4))

    assert summary.model_calls == 4
    assert summary.generated_tokens == 4 * words(solution(GOOD))
    assert summary.reused_tokens == 0
    assert summary.n_correct == 1


def test_reuse_counts_stored_rollouts_without_generating(graph, good_model, problem):
    first = best_of_n(graph, good_model, [problem], config(4))
    calls_before = len(good_model.calls)

    second = best_of_n(graph, good_model, [problem], config(4), recycling=RecyclingConfig(reuse_stored=True))

    assert len(good_model.calls) == calls_before
    assert second.generated_tokens == 0
    assert second.model_calls == 0
    assert second.reused_tokens == first.generated_tokens
    assert second.problems[0].reused_rollouts == 4
    assert second.problems[0].n_rollouts == 4
    assert second.n_correct == 1


def test_reuse_tops_up_to_n(graph, good_model, problem):
    best_of_n(graph, good_model, [problem], config(2))

    second = best_of_n(graph, good_model, [problem], config(5), recycling=RecyclingConfig(reuse_stored=True))

    assert second.problems[0].reused_rollouts == 2
    assert second.model_calls == 3
    assert second.generated_tokens == 3 * words(solution(GOOD))
    assert second.reused_tokens == 2 * words(solution(GOOD))


def test_reuse_of_ingested_recording_counts_its_tokens(graph, good_model, problem):
    graph.ingest([make_rollout(problem, GOOD, "5", True)])

    summary = best_of_n(graph, good_model, [problem], config(1), recycling=RecyclingConfig(reuse_stored=True))

    assert summary.reused_tokens == words(solution(GOOD))
    assert summary.generated_tokens == 0


def test_early_stop_when_vote_decided(graph, good_model, problem):
    summary = best_of_n(graph, good_model, [problem], config(8), recycling=RecyclingConfig(early_stop=True))

    assert summary.model_calls == 5  # 5 agreeing votes lead by more than the 3 left
    assert summary.problems[0].early_stopped
    assert summary.problems[0].n_rollouts == 5
    assert summary.n_correct == 1


def test_early_stop_waits_on_split_vote(graph, problem):
    model = FakeModel(lambda question, seed: solution(GOOD) if seed % 2 else solution(BAD))

    summary = best_of_n(graph, model, [problem], config(4), recycling=RecyclingConfig(early_stop=True))
    expected_calls = _calls_until_decided(model, problem, 4)

    assert summary.model_calls == expected_calls


def _calls_until_decided(model, problem, n):
    answers = []
    for sample in range(n):
        if vote_decided(answers, n - sample):
            return sample
        seed = rollout_seed(0, problem.question, sample)
        answers.append("5" if seed % 2 else "-1")
    return n


def test_negative_resamples_after_dead_end(graph, problem):
    graph.ingest([make_rollout(problem, BAD, "-1", False) for _ in range(3)])
    first_seed = rollout_seed(0, problem.question, 0)
    model = FakeModel(lambda question, seed: solution(BAD) if seed == first_seed else solution(GOOD))

    summary = best_of_n(graph, model, [problem], config(1), recycling=RecyclingConfig(negative=True))

    assert summary.problems[0].resamples == 1
    assert summary.n_correct == 1
    assert summary.generated_tokens == words(BAD_STEP) + words(solution(GOOD))
    assert summary.model_calls == 1 + len(GOOD)
    assert model.calls[1].seed == rollout_seed(0, problem.question, RESAMPLE_STRIDE)


def test_negative_last_attempt_runs_unchecked(graph, problem):
    graph.ingest([make_rollout(problem, BAD, "-1", False) for _ in range(3)])
    model = FakeModel({problem.question: [solution(BAD)]})
    recycling = RecyclingConfig(negative=True, max_resamples=1)

    summary = best_of_n(graph, model, [problem], config(1), recycling=recycling)

    assert summary.problems[0].resamples == 1
    assert summary.problems[0].answer == "-1"
    assert summary.generated_tokens == words(BAD_STEP) + words(solution(BAD))


def test_prefix_reuse_generates_only_continuation(graph, good_model, problem):
    graph.ingest([make_rollout(problem, GOOD, "5", True) for _ in range(3)])

    summary = best_of_n(graph, good_model, [problem], config(2), recycling=RecyclingConfig(prefix_reuse=True))

    assert summary.generated_tokens == 2 * words("#### 5")
    assert summary.reused_tokens == 2 * words(format_solution(GOOD[:2]))
    assert good_model.calls[0].prompt.endswith(format_solution(GOOD[:2]))
    assert summary.n_correct == 1


def test_prefix_reuse_skips_low_value_steps(graph, good_model, problem):
    graph.ingest([make_rollout(problem, GOOD, "5", True), make_rollout(problem, GOOD, "5", False)])

    summary = best_of_n(graph, good_model, [problem], config(1), recycling=RecyclingConfig(prefix_reuse=True))

    assert summary.reused_tokens == 0  # value (1 + 1) / (2 + 2) = 0.5 is below 0.6
    assert summary.generated_tokens == words(solution(GOOD))


def test_cross_problem_hints_in_prompt(graph, good_model, problem):
    neighbour = problem.__class__("Tom has 2 apples and buys 4 more. How many apples does he have?", "6")
    graph.ingest([make_rollout(neighbour, ["2 + 4 = 6 apples.", "#### 6"], "6", True)])
    recycling = RecyclingConfig(cross_problem=True, hint_min_similarity=0.0)

    best_of_n(graph, good_model, [problem], config(1), recycling=recycling)

    assert "- 2 + 4 = 6 apples.\n" in good_model.calls[0].prompt
    assert "#### 6" not in good_model.calls[0].prompt


def test_ledger_stored_per_problem(graph, good_model, problem):
    best_of_n(graph, good_model, [problem], config(2))
    summary = best_of_n(graph, good_model, [problem], config(3), recycling=RecyclingConfig(reuse_stored=True))

    row = graph.sql("SELECT generated_tokens, reused_tokens, model_calls, n_rollouts FROM run_problems "
                    "WHERE run_id = ?", [summary.run_id]).fetchall()[0]
    run = graph.sql("SELECT generated_tokens, reused_tokens, model_calls FROM runs WHERE run_id = ?",
                    [summary.run_id]).fetchall()[0]

    assert row == (words(solution(GOOD)), 2 * words(solution(GOOD)), 1, 3)
    assert run == row[:3]


def test_given_planner_is_used(graph, good_model, problem):
    planner = Planner(graph)
    summary = best_of_n(graph, good_model, [problem], config(1), recycling=RecyclingConfig.from_modes(["all"]),
                        planner=planner)

    assert summary.n_correct == 1


@pytest.mark.parametrize("modes, message", [(["reuse", "fast"], "unknown recycling mode 'fast'")])
def test_unknown_mode_raises(modes, message):
    with pytest.raises(ConfigError, match=message):
        RecyclingConfig.from_modes(modes)


@pytest.mark.parametrize("settings, message", [
    ({"prefix_min_value": 1.5}, "invalid prefix_min_value 1.5"),
    ({"max_resamples": -1}, "invalid max_resamples -1"),
    ({"hint_min_similarity": 2}, "invalid hint_min_similarity 2"),
])
def test_invalid_recycling_setting_raises(settings, message):
    with pytest.raises(ConfigError, match=message):
        RecyclingConfig(**settings)


def test_all_modes_enabled():
    assert RecyclingConfig.from_modes(["all"]).enabled == ("reuse", "prefix", "negative", "cross-problem",
                                                           "early-stop")
    assert RecyclingConfig.from_modes(["none"]).enabled == ()
