"""Step scorers: the arithmetic checker, graph value, and self-evaluation through token log-probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tater_graph import Problem
from tater_graph.arithmetic import find_claims
from tater_graph.errors import ConfigError
from tater_graph.model.fake import FakeModel
from tater_graph.planner import Planner
from tater_graph.scorers import (
    SCORERS, ArithmeticScorer, GraphValueScorer, SelfEvalScorer, StepScorer, get_scorer, register_scorer,
)
from tater_graph.values import beta_mean

from conftest import make_rollout

QUESTION = "Janet's ducks lay 16 eggs. She eats 3 and bakes with 4. She sells the rest at $2 each. How much?"


@pytest.mark.parametrize("step, expected", [
    ("16 - 3 - 4 = 9", 1.0),
    ("She sells 9 * 2 = $18 of eggs.", 1.0),
    ("$1,200 / 4 = $300 per month", 1.0),
    ("20 * 50% = 10", 1.0),
    ("25% of the 40 apples is 40 * 25% = 10 apples", 1.0),
    ("2 x 3 = 6 and 6 + 1 = 7", 1.0),
    ("Calculator: <<16-3-4=9>>9", 1.0),
    ("10 / 3 = 3.33", 1.0),
    ("2 + 3 = 5 + 1 = 6", 1.0),
    ("(2 + 3) * 4 = 20", 1.0),
    ("5 - 7 = -2", 1.0),
    ("Laura expects 100 - 5 = 95% to show up.", 1.0),
    ("10% off, so .10*60 = $6.00", 1.0),
    ("so S + 143 = 200 - 16 = 184.", 1.0),
    ("16 - 3 - 4 = 10", 0.0),
    ("9 * 2 = $19", 0.0),
    ("2 x 3 = 6 and 6 + 1 = 8", 0.0),
    ("10 / 3 = 3", 0.0),
    ("3 + 4 = 7.5", 0.0),
    ("1,000 + 1 = 1,002", 0.0),
    ("Thus, she should run for 6/3=.5 hour.", 0.0),
    ("4080 + 4080 / 2 = 4000 + 2040 = 6120 years", 0.0),
    ("She has 9 eggs left.", 0.5),
    ("x = 5", 0.5),
    ("#### 18", 0.5),
    ("100 / 0 = 5", 0.5),
    ("There are 60 students x 2/3 = 40 students.", 0.5),
    ("72 cubic ft * 3/4 = 54 cubic ft", 0.5),
    ("8 x 1 1/2 = 12 rolls", 0.5),
    ("100/5 = 5A/5 or 20 = A.", 0.5),
    ("He works M + 4 + 2 = 8 hours a day.", 0.5),
    ("Day 4:2(50+100+120)=540", 0.5),
])
def test_arithmetic_scorer_cases(step, expected):
    assert ArithmeticScorer().score(QUESTION, [], step) == expected


def test_arithmetic_claims_show_sides():
    claims = find_claims("She sells 9 * 2 = $18 of eggs, 16 - 3 = 12.")

    assert [(c.left, c.right, c.holds) for c in claims] == [("9 * 2", "$18", True), ("16 - 3", "12", False)]


def test_arithmetic_neutral_score_configurable():
    assert ArithmeticScorer(neutral=0.0).score(QUESTION, [], "No numbers.") == 0.0
    with pytest.raises(ConfigError, match="invalid neutral score 2"):
        ArithmeticScorer(neutral=2)


def test_registry_builds_each_scorer(graph):
    fake = FakeModel({})

    built = [get_scorer("arithmetic"), get_scorer("graph-value", planner=Planner(graph)),
             get_scorer("self-eval", model=fake, mode="confidence")]

    assert [s.name for s in built] == ["arithmetic", "graph-value", "self-eval"]
    assert all(isinstance(s, StepScorer) for s in built)
    assert set(SCORERS) >= {"arithmetic", "graph-value", "self-eval"}


def test_registry_suggests_close_name():
    with pytest.raises(ConfigError, match="unknown scorer 'arithmetc' \\(did you mean 'arithmetic'\\?\\)"):
        get_scorer("arithmetc")


def test_registry_rejects_duplicate_name():
    with pytest.raises(ConfigError, match="already registered"):
        register_scorer("arithmetic", ArithmeticScorer)


def test_graph_value_scorer_reads_state_value(graph):
    problem = Problem(QUESTION, "18")
    graph.ingest([
        make_rollout(problem, ["16 - 3 - 4 = 9", "9 * 2 = 18", "#### 18"], "18", True),
        make_rollout(problem, ["16 - 3 - 4 = 9", "9 * 2 = 20", "#### 20"], "20", False),
        make_rollout(problem, ["16 - 3 = 13", "13 * 2 = 26", "#### 26"], "26", False),
    ])
    scorer = GraphValueScorer(Planner(graph))

    assert scorer.score(QUESTION, [], "16 - 3 - 4 = 9") == pytest.approx(beta_mean(1, 1))
    assert scorer.score(QUESTION, ["16 - 3 - 4 = 9"], "9 * 2 = 18") == pytest.approx(beta_mean(1, 0))
    assert scorer.score(QUESTION, [], "16 - 3 = 13") == pytest.approx(beta_mean(0, 1))
    assert scorer.score(QUESTION, [], "The farmer counts ducks by the pond.") == 0.5
    assert GraphValueScorer(Planner(graph), unknown=0.1).score(QUESTION, [], "Ducks swim.") == 0.1


def test_graph_value_scorer_uses_approximate_state(graph):
    problem = Problem(QUESTION, "18")
    graph.ingest([make_rollout(problem, ["16 - 3 - 4 = 9 eggs", "#### 9"], "9", False)] * 2)
    planner = Planner(graph)

    state = planner.state(QUESTION, ["So 16 - 3 - 4 = 9 eggs"])

    assert state is not None
    assert 0.8 <= state.similarity < 1.0
    assert GraphValueScorer(planner).score(QUESTION, [], "So 16 - 3 - 4 = 9 eggs") == pytest.approx(beta_mean(0, 2))


SOLUTION = "16 - 3 - 4 = 9\n9 * 2 = 18\n#### 18"


def test_self_eval_confidence_prefers_scripted_step():
    scorer = SelfEvalScorer(FakeModel({QUESTION: [SOLUTION]}), mode="confidence")

    right = scorer.score(QUESTION, ["16 - 3 - 4 = 9"], "9 * 2 = 18")
    wrong = scorer.score(QUESTION, ["16 - 3 - 4 = 9"], "9 * 3 = 27")

    assert right == pytest.approx(0.9)
    assert wrong == pytest.approx(math.exp((math.log(0.9) * 2 + math.log(0.1) * 3) / 5))
    assert right > wrong


def test_self_eval_confidence_prompt_holds_prior_steps():
    fake = FakeModel({QUESTION: [SOLUTION]})

    SelfEvalScorer(fake, mode="confidence").score(QUESTION, ["16 - 3 - 4 = 9"], "9 * 2 = 18")

    prompt, continuation = fake.scored[0]
    assert prompt.endswith(f"Question: {QUESTION}\nAnswer:\n16 - 3 - 4 = 9\n")
    assert continuation == "9 * 2 = 18"


def test_self_eval_judge_compares_yes_and_no():
    def judge(prompt: str, continuation: str) -> list[float]:
        wrong = "9 * 3 = 27" in prompt
        yes = math.log(0.2 if wrong else 0.6)
        no = math.log(0.6 if wrong else 0.2)
        return [yes if continuation.strip() == "Yes" else no]

    fake = FakeModel({}, logprobs=judge)
    scorer = SelfEvalScorer(fake)

    assert scorer.score(QUESTION, ["16 - 3 - 4 = 9"], "9 * 2 = 18") == pytest.approx(0.75)
    assert scorer.score(QUESTION, ["16 - 3 - 4 = 9"], "9 * 3 = 27") == pytest.approx(0.25)
    prompt, continuation = fake.scored[0]
    assert prompt.endswith("9 * 2 = 18\nIs the last step correct? Answer Yes or No.\nAnswer:")
    assert [c for _, c in fake.scored[:2]] == [" Yes", " No"]


def test_self_eval_judge_survives_tiny_probabilities():
    fake = FakeModel({}, logprobs=lambda prompt, text: [-2000.0] if "Yes" in text else [-1000.0])

    score = SelfEvalScorer(fake).score(QUESTION, [], "9 * 2 = 18")

    assert 0.0 <= score < 1e-300


def test_self_eval_rejects_model_without_logprobs():
    class GenerateOnly:
        name = "generate-only"

    with pytest.raises(ConfigError, match="cannot score tokens"):
        SelfEvalScorer(GenerateOnly())
    with pytest.raises(ConfigError, match="invalid self-eval mode"):
        SelfEvalScorer(FakeModel({}), mode="vibes")


@pytest.mark.model
@pytest.mark.slow
def test_llama_logprobs_match_full_logits():
    from llama_cpp import Llama  # the oracle: logits of every position, the slow way

    from tater_graph.model.llama import LlamaBackend

    backend = LlamaBackend(n_ctx=512, n_threads=1)
    prompt = "Question: Tom has 2 apples and buys 3 more. How many apples does he have?\nAnswer:\n"
    continuation = "2 + 3 = 5\n#### 5"

    logprobs = backend.continuation_logprobs(prompt, continuation)
    again = backend.continuation_logprobs(prompt, continuation)  # second call reuses the KV cache

    # The oracle keeps the logits of every position and evaluates the continuation one token at a
    # time, as decoding does: a batched evaluation differed by up to 0.27 nats per token here.
    oracle = Llama(model_path=str(backend.path), n_ctx=512, n_threads=1, logits_all=True, verbose=False)
    tokens = oracle.tokenize((prompt + continuation).encode(), add_bos=True)
    split = len(tokens) - len(logprobs)
    oracle.eval(tokens[:split])
    expected = []
    for token in tokens[split:]:
        row = np.asarray(oracle.scores[oracle.n_tokens - 1], dtype=np.float64)
        peak = row.max()
        expected.append(row[token] - peak - np.log(np.exp(row - peak).sum()))
        oracle.eval([token])

    assert len(logprobs) == backend.count_tokens(continuation)
    assert logprobs == pytest.approx(expected, abs=1e-3)
    assert again == pytest.approx(logprobs, abs=1e-3)
    assert all(lp <= 0 for lp in logprobs)
