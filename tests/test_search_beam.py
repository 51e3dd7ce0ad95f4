"""Step-level beam search on a real graph with the deterministic fake model."""

from __future__ import annotations

import pytest

from tater_graph.errors import ConfigError
from tater_graph.model.fake import FakeModel
from tater_graph.prompts import format_solution
from tater_graph.search import SearchConfig
from tater_graph.search.common import rollout_seed
from tater_graph.search.beam import Beam, BeamConfig, beam_search, prune
from tater_graph.search.recycling import RecyclingConfig
from conftest import make_rollout

GOOD = ["Tom starts with 2 apples.", "He buys 3 more, so 2 + 3 = 5.", "#### 5"]
BAD_STEP = "Tom eats 3 apples, so 2 - 3 = -1."
BAD = [BAD_STEP, "#### -1"]


class SubtractionPenalty:
    """A rule-based step scorer for these tests: a step with a minus sign scores 0, others 1."""

    name = "subtraction-penalty"

    def __init__(self):
        self.calls = []

    def score(self, question, prior_steps, step):
        self.calls.append((tuple(prior_steps), step))
        return 0.0 if " - " in step else 1.0


def solution(steps) -> str:
    return format_solution(steps).rstrip("\n")


def words(text: str) -> int:
    return len(text.split())


def config() -> SearchConfig:
    return SearchConfig(n=1, shots=0, max_tokens=64)


def test_beam_prefers_higher_scored_steps(graph, problem):
    model = FakeModel({problem.question: [solution(BAD), solution(GOOD)]})

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=1, expansions=2),
                          scorer=SubtractionPenalty())

    assert summary.problems[0].answer == "5"
    assert summary.n_correct == 1
    stored = graph.sql("SELECT source, score, n_steps FROM rollouts").fetchall()
    assert stored == [("beam", 1.0, 3)]


def test_beam_width_keeps_both_paths(graph, problem):
    model = FakeModel({problem.question: [solution(BAD), solution(GOOD)]})

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=2, expansions=2),
                          scorer=SubtractionPenalty())

    answers = sorted(row[0] for row in graph.sql("SELECT answer FROM rollouts").fetchall())
    assert answers == ["-1", "5"]
    assert summary.problems[0].n_rollouts == 2
    assert summary.problems[0].answer == "5"  # tie broken by the better-scored beam


def test_beam_stops_at_max_depth(graph, problem):
    model = FakeModel({problem.question: [solution(GOOD)]})

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=1, expansions=1, max_depth=2),
                          scorer=SubtractionPenalty())

    assert graph.sql("SELECT n_steps FROM rollouts").fetchall() == [(2,)]
    assert summary.model_calls == 2
    assert summary.problems[0].answer == "5"  # the last number of the unfinished solution


def test_beam_counts_tokens_per_step(graph, problem):
    model = FakeModel({problem.question: [solution(GOOD)]})

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=1, expansions=1),
                          scorer=SubtractionPenalty())

    assert summary.model_calls == len(GOOD)
    assert summary.generated_tokens == words(solution(GOOD))


def test_beam_takes_bank_steps_before_generating(graph, problem):
    graph.ingest([make_rollout(problem, GOOD, "5", True) for _ in range(3)])
    model = FakeModel({problem.question: [solution(GOOD)]})
    recycling = RecyclingConfig(prefix_reuse=True)

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=1, expansions=1),
                          scorer=SubtractionPenalty(), recycling=recycling)

    assert summary.model_calls == 0
    assert summary.generated_tokens == 0
    assert summary.reused_tokens == words(solution(GOOD))
    assert summary.problems[0].answer == "5"


def test_beam_reuse_counts_stored_as_finished(graph, problem):
    graph.ingest([make_rollout(problem, GOOD, "5", True) for _ in range(2)])
    model = FakeModel({problem.question: [solution(GOOD)]})

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=2, expansions=1),
                          scorer=SubtractionPenalty(), recycling=RecyclingConfig(reuse_stored=True))

    assert summary.model_calls == 0
    assert summary.problems[0].reused_rollouts == 2
    assert summary.reused_tokens == 2 * words(solution(GOOD))
    assert summary.n_correct == 1


def test_beam_negative_resamples_dead_end_step(graph, problem):
    graph.ingest([make_rollout(problem, BAD, "-1", False) for _ in range(3)])
    first_seed = rollout_seed(0, problem.question + "\x1f", 0)
    ordered = [solution(BAD), solution(GOOD)] if first_seed % 2 == 0 else [solution(GOOD), solution(BAD)]
    model = FakeModel({problem.question: ordered})  # the first attempt at the root draws the dead end
    scorer = SubtractionPenalty()

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=1, expansions=1),
                          scorer=scorer, recycling=RecyclingConfig(negative=True, max_resamples=4))

    assert BAD_STEP not in [step for _, step in scorer.calls]
    assert summary.problems[0].answer == "5"
    assert summary.problems[0].resamples >= 1
    assert summary.generated_tokens == summary.problems[0].resamples * words(BAD_STEP) + words(solution(GOOD))


def test_beam_early_stop_when_vote_decided(graph, problem):
    graph.ingest([make_rollout(problem, GOOD, "5", True) for _ in range(2)])
    model = FakeModel({problem.question: [solution(GOOD)]})
    recycling = RecyclingConfig(reuse_stored=True, early_stop=True)

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=3, expansions=2),
                          scorer=SubtractionPenalty(), recycling=recycling)

    assert summary.problems[0].early_stopped  # 2 stored votes for 5 lead by more than the 1 beam left
    assert summary.model_calls == 0
    assert summary.problems[0].n_rollouts == 2
    assert summary.problems[0].answer == "5"


def test_beam_without_early_stop_fills_width(graph, problem):
    graph.ingest([make_rollout(problem, GOOD, "5", True) for _ in range(2)])
    model = FakeModel({problem.question: [solution(GOOD)]})

    summary = beam_search(graph, model, [problem], config(), beam=BeamConfig(width=3, expansions=2),
                          scorer=SubtractionPenalty(), recycling=RecyclingConfig(reuse_stored=True))

    assert not summary.problems[0].early_stopped
    assert summary.model_calls > 0
    assert summary.problems[0].n_rollouts == 3


def test_prune_keeps_best_distinct_beams():
    beams = [Beam(("a",), (0.2,)), Beam(("b",), (0.9,)), Beam(("B",), (0.8,)), Beam(("c",), (0.5,)),
             Beam(("d",), (1.0,), finished=True, answer="4")]

    active, finished = prune(beams, width=2)

    assert [b.steps for b in active] == [("b",), ("c",)]
    assert [b.answer for b in finished] == ["4"]


@pytest.mark.parametrize("settings, message", [
    ({"width": 0}, "invalid beam width 0"),
    ({"expansions": 0}, "invalid beam expansions 0"),
    ({"max_depth": 0}, "invalid beam max_depth 0"),
    ({"step_delimiter": "\n\n"}, "invalid step delimiter"),
])
def test_invalid_beam_config_raises(settings, message):
    with pytest.raises(ConfigError, match=message):
        BeamConfig(**settings)
