"""The planner on real DuckDB files and hnswlib indexes, with rollouts written through StepGraph.ingest."""

from __future__ import annotations

import math

import pytest

from tater_graph import Problem, StepGraph
from tater_graph.errors import ConfigError, NotFoundError
from tater_graph.planner import Planner, PlannerConfig
from tater_graph.values import beta_mean, beta_std

from conftest import make_rollout

APPLES = Problem("Tom has 2 apples and buys 3 more. How many apples does he have?", "5", "test", "apples")
PEARS = Problem("Ann has 4 pears and eats 1. How many pears are left?", "3", "test", "pears")

START = "He starts with 2 apples."
RIGHT = "2 + 3 = 5"
WRONG = "2 + 3 = 6"


def ingest_apples(graph: StepGraph) -> None:
    """Write one right and three wrong rollouts through START, and one right rollout that skips it."""
    graph.ingest([
        make_rollout(APPLES, [START, RIGHT, "#### 5"], "5", True),
        make_rollout(APPLES, [START, WRONG, "#### 6"], "6", False),
        make_rollout(APPLES, [START, WRONG, "#### 6"], "6", False),
        make_rollout(APPLES, [START, WRONG, "#### 6"], "6", False),
        make_rollout(APPLES, ["He buys 3 more apples.", RIGHT, "#### 5"], "5", True),
    ])


def problem_id(graph: StepGraph, problem: Problem) -> int:
    return graph.sql("SELECT problem_id FROM problems WHERE source_id = ?", [problem.source_id]).fetchall()[0][0]


@pytest.fixture
def apples(graph):
    ingest_apples(graph)
    return graph


def test_root_continuations_ranked_by_posterior_value(apples):
    result = Planner(apples).continuations(APPLES.question)

    assert result.exact
    assert result.similarity == 1.0
    texts = [c.step_text for c in result.continuations]
    assert texts == ["He buys 3 more apples.", START]
    buy, start = result.continuations
    assert buy.value == pytest.approx(2 / 3)  # one success: Beta(2, 1), not a raw mean of 1.0
    assert buy.value_std == pytest.approx(beta_std(1, 0))
    assert start.value == pytest.approx(beta_mean(1, 3))
    assert (start.visits, start.graded, start.successes) == (4, 4, 1)
    assert start.support_rollouts == 4
    assert start.support_problems == 1
    assert start.source_rollouts == (1, 2, 3, 4)


def test_value_std_shrinks_with_visits(apples):
    buy, start = Planner(apples).continuations(APPLES.question).continuations

    assert start.value_std < buy.value_std
    assert math.isclose(start.value_std, math.sqrt(2 * 4 / (6 * 6 * 7)))


def test_dead_end_is_split_from_continuations(apples):
    result = Planner(apples).continuations(APPLES.question, [START])

    assert [c.step_text for c in result.continuations] == [RIGHT]
    assert [c.step_text for c in result.dead_ends] == [WRONG]
    dead = result.dead_ends[0]
    assert dead.value == pytest.approx(0.2)
    assert dead.graded == 3


def test_dead_end_needs_enough_graded_visits(apples):
    config = PlannerConfig(dead_end_min_visits=4)

    result = Planner(apples, config).continuations(APPLES.question, [START])

    assert result.dead_ends == ()
    assert [c.step_text for c in result.continuations] == [RIGHT, WRONG]


def test_ties_in_value_break_on_visits(graph):
    graph.ingest([
        make_rollout(APPLES, ["First way.", "#### 5"], "5", None),
        make_rollout(APPLES, ["First way.", "#### 5"], "5", None),
        make_rollout(APPLES, ["Second way.", "#### 5"], "5", None),
    ])

    result = Planner(graph).continuations(APPLES.question)

    assert [c.step_text for c in result.continuations] == ["First way.", "Second way."]
    assert [c.value for c in result.continuations] == [0.5, 0.5]
    assert [c.visits for c in result.continuations] == [2, 1]


def test_k_limits_continuations(apples):
    result = Planner(apples).continuations(APPLES.question, k=1)

    assert len(result.continuations) == 1


def test_terminal_step_carries_answer(apples):
    result = Planner(apples).continuations(APPLES.question, [START, RIGHT])

    final = result.continuations[0]
    assert final.is_terminal
    assert final.answer == "5"
    assert final.depth == 3


def test_transposed_steps_reach_same_state(graph):
    graph.ingest([
        make_rollout(APPLES, ["Apples: 2.", "More: 3.", "2 + 3 = 5", "#### 5"], "5", True),
        make_rollout(APPLES, ["More: 3.", "Apples: 2.", "Total is 5.", "#### 5"], "5", True),
    ])
    planner = Planner(graph)

    forward = planner.continuations(APPLES.question, ["Apples: 2.", "More: 3."])
    backward = planner.continuations(APPLES.question, ["More: 3.", "Apples: 2."])

    assert forward.exact and backward.exact
    assert forward.state_node_id == backward.state_node_id
    assert sorted(c.step_text for c in forward.continuations) == ["2 + 3 = 5", "Total is 5."]


def test_problem_id_and_question_text_agree(apples):
    planner = Planner(apples)

    by_text = planner.continuations(APPLES.question, [START])
    by_id = planner.continuations(problem_id(apples, APPLES), [START])

    assert by_text == by_id


def test_question_matched_case_and_whitespace_folded(apples):
    result = Planner(apples).continuations("  tom has 2 apples and buys 3 more.   How many apples does he have? ")

    assert result.exact


def test_unknown_problem_id_raises(apples):
    with pytest.raises(NotFoundError, match="problem 99 not found"):
        Planner(apples).continuations(99)


def test_approximate_lookup_reports_similarity(apples):
    result = Planner(apples).continuations(APPLES.question, ["He starts with 2 apple."])

    assert not result.exact
    assert 0.8 <= result.similarity < 1.0
    assert [c.step_text for c in result.continuations] == [RIGHT]
    assert [c.step_text for c in result.dead_ends] == [WRONG]
    assert result.continuations[0].similarity == result.similarity


def test_approximate_lookup_respects_threshold(apples):
    planner = Planner(apples, PlannerConfig(min_similarity=0.99))

    result = planner.continuations(APPLES.question, ["He starts with 2 apple."])

    assert result.state_node_id is None
    assert result.continuations == ()
    assert result.similarity is None


def test_unrelated_step_matches_nothing(apples):
    result = Planner(apples).continuations(APPLES.question, ["The train leaves at noon from Boston."])

    assert result.state_node_id is None


def test_unstored_question_matches_similar_root(apples):
    result = Planner(apples).continuations("Tom has 2 apples and buys 3 more. How many apples does Tom have now?")

    assert not result.exact
    assert 0.8 <= result.similarity < 1.0
    assert [c.step_text for c in result.continuations] == ["He buys 3 more apples.", START]


def test_scope_same_ignores_other_problems(graph):
    graph.ingest([
        make_rollout(APPLES, ["Count the fruit.", "#### 5"], "5", True),
        make_rollout(PEARS, ["She has 4 pears.", "4 - 1 = 3", "#### 3"], "3", True),
    ])
    step = ["She has 4 pears!"]

    same = Planner(graph, PlannerConfig(scope="same", min_similarity=0.7)).continuations(APPLES.question, step)
    anywhere = Planner(graph, PlannerConfig(scope="any", min_similarity=0.7)).continuations(APPLES.question, step)

    assert same.state_node_id is None
    assert [c.step_text for c in anywhere.continuations] == ["4 - 1 = 3"]
    assert anywhere.continuations[0].problem_id == problem_id(graph, PEARS)


def test_merged_continuations_count_support_problems(graph):
    shared = ["Add the two numbers.", "The sum is the answer."]
    graph.ingest([
        make_rollout(APPLES, shared + ["#### 5"], "5", True),
        make_rollout(PEARS, shared + ["#### 3"], "3", True),
    ])
    planner = Planner(graph, PlannerConfig(scope="any"))

    result = planner.continuations("A question nobody stored about adding.", ["Add the two numbers!"])

    assert not result.exact
    assert len(result.matched_node_ids) == 2
    (merged,) = result.continuations
    assert merged.support_problems == 2
    assert merged.visits == 2
    assert len(merged.node_ids) == 2
    assert merged.value == pytest.approx(beta_mean(2, 0))


def test_matches_dead_end_exact_and_paraphrased(apples):
    planner = Planner(apples, PlannerConfig(min_similarity=0.75))

    assert planner.matches_dead_end(APPLES.question, [START, WRONG])
    assert planner.matches_dead_end(APPLES.question, [START, "2 + 3 =  6"])
    assert planner.matches_dead_end(APPLES.question, [START, "So 2 + 3 = 6"])
    assert not planner.matches_dead_end(APPLES.question, [START, "So 2 + 3 = 7"])
    assert not planner.matches_dead_end(APPLES.question, [START])
    assert not planner.matches_dead_end(APPLES.question, [])


def test_dead_end_paraphrase_needs_same_numbers(apples):
    planner = Planner(apples, PlannerConfig(min_similarity=0.75))
    vectors = apples.embed([RIGHT, WRONG])

    assert vectors[0] @ vectors[1] >= 0.75  # close enough for the embedding alone
    assert not planner.matches_dead_end(APPLES.question, [START, RIGHT])


def test_dead_ends_method_matches_result(apples):
    planner = Planner(apples)

    assert planner.dead_ends(APPLES.question, [START]) == planner.continuations(APPLES.question, [START]).dead_ends


def test_similar_problems_rank_and_verified_steps(graph):
    ingest_apples(graph)
    graph.ingest([make_rollout(PEARS, ["She eats one.", "#### 4"], "4", False)])
    planner = Planner(graph)

    found = planner.similar_problems("Tom has 2 apples and buys 3 more. How many apples now?", k=2)

    assert [p.problem_id for p in found] == [problem_id(graph, APPLES), problem_id(graph, PEARS)]
    assert found[0].similarity > found[1].similarity
    assert found[0].solved
    assert found[0].gold_answer == "5"
    # Both right rollouts end at the same nodes; the one avoiding the low-value START node wins.
    assert found[0].verified_steps == ("He buys 3 more apples.", RIGHT, "#### 5")
    assert not found[1].solved
    assert found[1].verified_steps == ()


def test_similar_problems_exclude_ids(apples):
    planner = Planner(apples)
    excluded = [problem_id(apples, APPLES)]

    assert planner.similar_problems(APPLES.question, exclude_problem_ids=excluded) == []


def test_best_path_follows_highest_value(apples):
    path = Planner(apples).best_path(problem_id(apples, APPLES))

    assert [c.step_text for c in path] == ["He buys 3 more apples.", RIGHT, "#### 5"]
    assert path[-1].is_terminal
    assert all(c.similarity is None for c in path)


def test_last_used_at_written_on_flush(apples):
    planner = Planner(apples)

    result = planner.continuations(APPLES.question, [START])
    before = apples.sql("SELECT count(*) FROM nodes WHERE last_used_at IS NOT NULL").fetchall()[0][0]
    planner.flush()
    used = {row[0] for row in apples.sql("SELECT node_id FROM nodes WHERE last_used_at IS NOT NULL").fetchall()}

    assert before == 0
    expected = {result.state_node_id} | {c.node_id for c in result.continuations + result.dead_ends}
    assert used == expected


def test_last_used_at_written_when_batch_fills(apples):
    planner = Planner(apples, PlannerConfig(touch_batch=1))

    planner.continuations(APPLES.question)

    used = apples.sql("SELECT count(*) FROM nodes WHERE last_used_at IS NOT NULL").fetchall()[0][0]
    assert used == 3


def test_read_only_graph_serves_without_writing(db_path):
    with StepGraph.open(db_path, embedder="hashed") as graph:
        ingest_apples(graph)

    with StepGraph.open(db_path, read_only=True) as graph:
        with Planner(graph, PlannerConfig(touch_batch=1)) as planner:
            result = planner.continuations(APPLES.question, [START])
            approximate = planner.continuations(APPLES.question, ["He starts with 2 apple."])
        used = graph.sql("SELECT count(*) FROM nodes WHERE last_used_at IS NOT NULL").fetchall()[0][0]

    assert [c.step_text for c in result.continuations] == [RIGHT]
    assert approximate.state_node_id == result.state_node_id
    assert used == 0


def test_step_score_moves_value(apples):
    node = Planner(apples).continuations(APPLES.question, [START]).continuations[0].node_id
    apples.sql("UPDATE nodes SET score = 0.0 WHERE node_id = ?", [node])

    scored = Planner(apples).continuations(APPLES.question, [START], k=5)
    ignored = Planner(apples, PlannerConfig(score_weight=0)).continuations(APPLES.question, [START])

    assert scored.continuations[0].value == pytest.approx(beta_mean(1, 1))
    assert scored.continuations[0].score == 0.0
    assert ignored.continuations[0].value == pytest.approx(beta_mean(1, 0))


@pytest.mark.parametrize("field, value", [
    ("k", 0), ("min_similarity", 1.5), ("dead_end_max_value", -0.1), ("dead_end_min_visits", 0),
    ("prior_successes", 0), ("prior_failures", -1), ("score_weight", -1), ("scope", "everywhere"),
    ("candidates", 0),
])
def test_config_rejects_invalid_values(field, value):
    with pytest.raises(ConfigError, match=f"invalid planner {field}"):
        PlannerConfig(**{field: value})


def test_bad_steps_rejected(apples):
    planner = Planner(apples)

    with pytest.raises(ConfigError, match="not one string"):
        planner.continuations(APPLES.question, START)
    with pytest.raises(ConfigError, match="step 2 is empty"):
        planner.continuations(APPLES.question, [START, "  "])
    with pytest.raises(ConfigError, match="invalid k 0"):
        planner.continuations(APPLES.question, k=0)
    with pytest.raises(ConfigError, match="invalid problem"):
        planner.continuations(1.5)


def test_large_scope_uses_filtered_index(apples, monkeypatch):
    import tater_graph.planner as planner_module

    exact = Planner(apples).continuations(APPLES.question, ["He starts with 2 apple."])
    monkeypatch.setattr(planner_module, "_EXACT_SCOPE_NODES", 0)
    indexed = Planner(apples).continuations(APPLES.question, ["He starts with 2 apple."])

    assert indexed.state_node_id == exact.state_node_id
    assert indexed.similarity == pytest.approx(exact.similarity, abs=1e-5)
    assert [c.step_text for c in indexed.continuations] == [c.step_text for c in exact.continuations]


def test_index_query_allowed_ids(apples):
    vector = apples.embed([START])
    node_ids = [row[0] for row in apples.sql("SELECT node_id FROM nodes WHERE depth > 0 ORDER BY 1").fetchall()]

    everything, _ = apples.index.query(vector, 5)
    only_two, _ = apples.index.query(vector, 5, allowed_ids=node_ids[-2:])
    none, _ = apples.index.query(vector, 5, allowed_ids=[])

    assert everything.shape == (1, 5)
    assert sorted(only_two[0].tolist()) == node_ids[-2:]
    assert none.shape == (1, 0)
