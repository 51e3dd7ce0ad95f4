"""Merging rollouts into per-problem DAGs, on a real DuckDB file."""

import pytest

from conftest import make_rollout
from tater_graph import Problem
from tater_graph.errors import IngestError
from tater_graph.store.writer import ROOT_KEY, state_keys


def node_rows(graph):
    return graph.sql(
        "SELECT depth, step_norm, visits, graded, successes, value, terminal_visits, answer FROM nodes "
        "ORDER BY depth, step_norm"
    ).fetchall()


def test_shared_prefix_merges_into_one_path(graph, problem):
    graph.ingest([
        make_rollout(problem, ["a = 2", "b = 3", "so 5"], "5", True),
        make_rollout(problem, ["a = 2", "b = 4", "so 6"], "6", False),
    ])
    assert graph.sql("SELECT count(*) FROM nodes").fetchall()[0][0] == 6  # root, a, ab3, ab4, +2 terminals
    assert graph.sql("SELECT count(*) FROM edges").fetchall()[0][0] == 5
    first = graph.sql("SELECT visits, graded, successes FROM nodes WHERE depth = 1").fetchall()
    assert first == [(2, 2, 1)]


def test_transposition_reaches_same_node(graph, problem):
    graph.ingest([
        make_rollout(problem, ["a = 2", "b = 3", "a + b = 5"], "5", True),
        make_rollout(problem, ["b = 3", "a = 2", "a + b = 5"], "5", True),
    ])
    depth2 = graph.sql("SELECT visits FROM nodes WHERE depth = 2").fetchall()
    assert depth2 == [(2,)]
    depth1 = graph.sql("SELECT count(*) FROM nodes WHERE depth = 1").fetchall()[0][0]
    assert depth1 == 2
    # Two edges enter the shared depth-2 state, one from each order.
    into_shared = graph.sql(
        "SELECT count(*) FROM edges e JOIN nodes n ON n.node_id = e.child_id WHERE n.depth = 2"
    ).fetchall()[0][0]
    assert into_shared == 2


def test_same_text_under_different_states_is_two_nodes(graph, problem):
    graph.ingest([
        make_rollout(problem, ["a = 2", "so 5"], "5", True),
        make_rollout(problem, ["b = 3", "so 5"], "5", True),
    ])
    rows = graph.sql("SELECT count(*) FROM nodes WHERE step_norm = 'so 5'").fetchall()
    assert rows[0][0] == 2


def test_normalized_steps_merge(graph, problem):
    graph.ingest([
        make_rollout(problem, ["She has 1,000 apples."]),
        make_rollout(problem, ["she  has 1000 apples."]),
    ])
    assert graph.sql("SELECT count(*), max(visits) FROM nodes WHERE depth = 1").fetchall() == [(1, 2)]


def test_same_problem_text_is_one_problem(graph, problem):
    graph.ingest([make_rollout(problem, ["x"])])
    graph.ingest([make_rollout(Problem("  " + problem.question.upper() + " ", "5"), ["x"])])
    assert graph.sql("SELECT count(*) FROM problems").fetchall()[0][0] == 1
    assert graph.sql("SELECT visits FROM nodes WHERE depth = 1").fetchall() == [(2,)]


def test_values_are_beta_posterior_means(graph, problem):
    graph.ingest([
        make_rollout(problem, ["s1", "s2"], "5", True),
        make_rollout(problem, ["s1", "s3"], "6", False),
        make_rollout(problem, ["s1", "s4"], None, None),
    ])
    depth1 = graph.sql("SELECT visits, graded, successes, value FROM nodes WHERE depth = 1").fetchall()
    assert depth1 == [(3, 2, 1, pytest.approx(0.5))]
    values = dict(graph.sql("SELECT step_norm, value FROM nodes WHERE depth = 2").fetchall())
    assert values["s2"] == pytest.approx(2 / 3)
    assert values["s3"] == pytest.approx(1 / 3)
    assert values["s4"] == pytest.approx(0.5)


def test_counts_accumulate_across_ingests(graph, problem):
    for _ in range(3):
        graph.ingest([make_rollout(problem, ["s1", "s2"], "5", True)])
    assert graph.sql("SELECT visits, terminal_visits, answer FROM nodes WHERE depth = 2").fetchall() == [(3, 3, "5")]
    assert graph.sql("SELECT traversals FROM edges ORDER BY parent_id").fetchall() == [(3,), (3,)]


def test_rollout_path_recorded_in_order(graph, problem):
    result = graph.ingest([make_rollout(problem, ["one", "two", "three"], step_labels=(1, 1, -1))])
    rows = graph.sql(
        "SELECT rs.position, n.depth, rs.step_text, rs.label FROM rollout_steps rs JOIN nodes n USING (node_id) "
        "WHERE rollout_id = ? ORDER BY position", params=[result.rollout_ids[0]]
    ).fetchall()
    assert rows == [(1, 1, "one", 1), (2, 2, "two", 1), (3, 3, "three", -1)]


def test_root_node_has_zero_key(graph, problem):
    graph.ingest([make_rollout(problem, ["x"])])
    assert graph.sql("SELECT state_key, step_text FROM nodes WHERE depth = 0").fetchall() == [(ROOT_KEY, "")]


def test_state_keys_are_order_independent():
    assert state_keys(["a", "b"])[-1] == state_keys(["b", "a"])[-1]
    assert state_keys(["a", "a"])[-1] != state_keys(["a"])[-1]


def test_failed_ingest_writes_nothing(graph, problem):
    graph.ingest([make_rollout(problem, ["kept"])])
    before = graph.sql("SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM rollouts)").fetchall()
    bad = [make_rollout(problem, ["fine"]), make_rollout(problem, ["ok", "   "])]
    with pytest.raises(IngestError, match="step 2 is empty"):
        graph.ingest(bad)
    after = graph.sql("SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM rollouts)").fetchall()
    assert after == before


def test_error_rollout_counts_toward_no_node(graph, problem):
    graph.ingest([make_rollout(problem, [], error="model timed out"), make_rollout(problem, ["x"], "1", False)])
    assert graph.sql("SELECT visits FROM nodes WHERE depth = 0").fetchall() == [(1,)]
    assert graph.sql("SELECT n_steps, error FROM rollouts ORDER BY rollout_id").fetchall() == [
        (0, "model timed out"), (1, None)]


def test_new_nodes_get_vectors_in_index(graph, problem):
    graph.ingest([make_rollout(problem, ["alpha step", "beta step"])])
    assert graph.sql("SELECT count(*) FROM node_vectors").fetchall()[0][0] == 2
    assert graph.index.count == 2
    ids, sims = graph.index.query(graph.embed(["beta step"]), k=1)
    expected = graph.sql("SELECT node_id FROM nodes WHERE step_norm = 'beta step'").fetchall()[0][0]
    assert ids[0][0] == expected
    assert sims[0][0] == pytest.approx(1.0, abs=1e-5)
