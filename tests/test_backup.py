"""Vote-agreement and step-score backup on real DuckDB files."""

from __future__ import annotations

import pytest

from tater_graph import Problem
from tater_graph.backup import StepScore, backup_vote, backup_votes, record_step_scores
from tater_graph.errors import ConfigError, NotFoundError
from tater_graph.planner import Planner, PlannerConfig
from tater_graph.values import beta_mean

from conftest import make_rollout

UNGRADED = Problem("A box holds 2 red and 3 blue balls. How many balls?", None, "test", "balls")
GRADED = Problem("Sam has 4 cats and 1 dog. How many pets?", "5", "test", "pets")


def ingest_votes(graph):
    graph.ingest([
        make_rollout(UNGRADED, ["Red: 2, blue: 3.", "2 + 3 = 5", "#### 5"], "5"),
        make_rollout(UNGRADED, ["Red: 2, blue: 3.", "2 + 3 = 5", "#### 5"], "5"),
        make_rollout(UNGRADED, ["Red: 2, blue: 3.", "2 * 3 = 6", "#### 6"], "6"),
        make_rollout(UNGRADED, ["Count them.", "#### 5.0"], "5.0"),
    ])
    return graph.sql("SELECT problem_id FROM problems WHERE source_id = 'balls'").fetchall()[0][0]


def node_counts(graph, step_text):
    return graph.sql(
        "SELECT visits, graded, successes, vote_graded, vote_successes FROM nodes WHERE step_text = ?", [step_text]
    ).fetchall()[0]


def test_vote_backup_counts_pseudo_outcomes(graph):
    problem_id = ingest_votes(graph)

    result = backup_vote(graph, problem_id)

    assert result.vote_answer == "5"
    assert (result.rollouts, result.agreeing, result.pseudo_graded) == (4, 3, 4)
    assert node_counts(graph, "Red: 2, blue: 3.") == (3, 0, 0, 3, 2)
    assert node_counts(graph, "2 * 3 = 6") == (1, 0, 0, 1, 0)
    root = graph.sql("SELECT vote_graded, vote_successes FROM nodes WHERE depth = 0").fetchall()
    assert root == [(4, 3)]


def test_vote_backup_leaves_gold_columns_alone(graph):
    problem_id = ingest_votes(graph)

    backup_vote(graph, problem_id)

    rows = graph.sql("SELECT is_correct, agrees_with_vote FROM rollouts ORDER BY rollout_id").fetchall()
    assert rows == [(None, True), (None, True), (None, False), (None, True)]
    stored = graph.sql("SELECT vote_answer, gold_answer FROM problems").fetchall()
    assert stored == [("5", None)]
    assert graph.sql("SELECT max(value), min(value) FROM nodes").fetchall() == [(0.5, 0.5)]


def test_vote_backup_is_idempotent_and_recounts(graph):
    problem_id = ingest_votes(graph)
    backup_vote(graph, problem_id)
    backup_vote(graph, problem_id)
    assert node_counts(graph, "Red: 2, blue: 3.") == (3, 0, 0, 3, 2)

    graph.ingest([make_rollout(UNGRADED, ["Red: 2, blue: 3.", "2 * 3 = 6", "#### 6"], "6")] * 3)
    result = backup_vote(graph, problem_id)

    assert result.vote_answer == "6"
    assert node_counts(graph, "Red: 2, blue: 3.") == (6, 0, 0, 6, 4)
    assert node_counts(graph, "2 + 3 = 5") == (2, 0, 0, 2, 0)


def test_vote_backup_skips_gold_graded_rollouts(graph):
    graph.ingest([
        make_rollout(GRADED, ["4 + 1 = 5", "#### 5"], "5", True),
        make_rollout(GRADED, ["4 + 1 = 6", "#### 6"], "6", False),
        make_rollout(GRADED, ["4 + 1 = 5", "#### 5"], "5", True),
    ])
    problem_id = graph.sql("SELECT problem_id FROM problems").fetchall()[0][0]

    result = backup_vote(graph, problem_id)

    assert result.pseudo_graded == 0
    assert graph.sql("SELECT sum(vote_graded) FROM nodes").fetchall()[0][0] == 0
    assert graph.sql("SELECT count(*) FROM rollouts WHERE agrees_with_vote").fetchall()[0][0] == 2


def test_vote_backup_with_given_answer(graph):
    problem_id = ingest_votes(graph)

    result = backup_vote(graph, problem_id, vote_answer="6")

    assert result.agreeing == 1
    assert node_counts(graph, "2 * 3 = 6") == (1, 0, 0, 1, 1)


def test_vote_backup_unknown_problem_raises(graph):
    with pytest.raises(NotFoundError, match="problem 7 not found"):
        backup_vote(graph, 7)


def test_backup_votes_defaults_to_problems_without_gold(graph):
    ingest_votes(graph)
    graph.ingest([make_rollout(GRADED, ["4 + 1 = 5", "#### 5"], "5", True)])

    results = backup_votes(graph)

    assert [r.vote_answer for r in results] == ["5"]


def test_planner_values_use_vote_outcomes(graph):
    problem_id = ingest_votes(graph)
    before = Planner(graph).continuations(problem_id).continuations
    backup_vote(graph, problem_id)

    after = Planner(graph).continuations(problem_id).continuations
    half = Planner(graph, PlannerConfig(vote_weight=0.5)).continuations(problem_id).continuations

    assert [c.value for c in before] == [0.5, 0.5]
    assert after[0].step_text == "Count them."
    assert after[0].value == pytest.approx(beta_mean(1, 0))
    assert after[1].value == pytest.approx(beta_mean(2, 1))
    assert (after[1].vote_graded, after[1].vote_successes) == (3, 2)
    assert half[1].value == pytest.approx(beta_mean(1.0, 0.5))


def test_vote_outcomes_mark_dead_ends(graph):
    graph.ingest([make_rollout(UNGRADED, ["Red: 2, blue: 3.", "2 + 3 = 5", "#### 5"], "5")] * 4
                 + [make_rollout(UNGRADED, ["Red: 2, blue: 3.", "2 - 3 = -1", "#### -1"], "-1")] * 4
                 + [make_rollout(UNGRADED, ["Red: 2, blue: 3.", "2 + 3 = 5", "#### 5"], "5")])
    problem_id = graph.sql("SELECT problem_id FROM problems").fetchall()[0][0]
    backup_vote(graph, problem_id)

    result = Planner(graph).continuations(problem_id, ["Red: 2, blue: 3."])
    ignored = Planner(graph, PlannerConfig(vote_weight=0)).continuations(problem_id, ["Red: 2, blue: 3."])

    assert [c.step_text for c in result.dead_ends] == ["2 - 3 = -1"]
    assert ignored.dead_ends == ()


def test_step_scores_stored_and_latest_kept(graph):
    ingest_votes(graph)
    node = graph.sql("SELECT node_id FROM nodes WHERE step_text = '2 * 3 = 6'").fetchall()[0][0]

    stored = record_step_scores(graph, [StepScore(node, "arithmetic", 0.0), StepScore(node, "self-eval", 0.75)],
                                run_id=3)

    assert stored == 2
    rows = graph.sql("SELECT scorer, score, run_id FROM step_scores ORDER BY scorer").fetchall()
    assert rows == [("arithmetic", 0.0, 3), ("self-eval", 0.75, 3)]
    assert graph.sql("SELECT score FROM nodes WHERE node_id = ?", [node]).fetchall()[0][0] == 0.75


@pytest.mark.parametrize("score, message", [(1.5, "must be in"), (float("nan"), "must be in"), ("high", "must be in")])
def test_invalid_step_score_writes_nothing(graph, score, message):
    ingest_votes(graph)

    with pytest.raises(ConfigError, match=message):
        record_step_scores(graph, [StepScore(1, "arithmetic", 0.5), StepScore(2, "arithmetic", score)])

    assert graph.sql("SELECT count(*) FROM step_scores").fetchall()[0][0] == 0
    assert graph.sql("SELECT count(*) FROM nodes WHERE score IS NOT NULL").fetchall()[0][0] == 0


def test_step_score_of_missing_node_raises(graph):
    ingest_votes(graph)

    with pytest.raises(NotFoundError, match="node 999 not found"):
        record_step_scores(graph, [StepScore(1, "arithmetic", 0.5), StepScore(999, "arithmetic", 0.5)])

    assert graph.sql("SELECT count(*) FROM step_scores").fetchall()[0][0] == 0
