"""Merged graphs checked against an independent count of states, edges and visits."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_rollout
from tater_graph import Problem, StepGraph
from tater_graph.steps import normalize_step

STEPS = ["a = 2", "A  = 2", "b = 3", "so 5", "so 6", "c = 1,000", "c = 1000"]
QUESTIONS = ["What is a + b?", "What is c - a?"]

rollout_specs = st.lists(
    st.tuples(st.sampled_from(QUESTIONS), st.lists(st.sampled_from(STEPS), min_size=1, max_size=4),
              st.sampled_from([True, False, None])),
    min_size=1, max_size=12,
)


def expected_graph(specs):
    """Count nodes, edges and per-state visits from multisets of normalized steps, without the writer."""
    nodes, edges, visits = set(), set(), Counter()
    for question, steps, _ in specs:
        parent = (question, ())
        nodes.add(parent)
        visits[parent] += 1
        norms = [normalize_step(step) for step in steps]
        for depth in range(1, len(norms) + 1):
            state = (question, tuple(sorted(norms[:depth])))
            nodes.add(state)
            edges.add((parent, state))
            visits[state] += 1
            parent = state
    return nodes, edges, visits


def stored_visits(graph):
    rows = graph.sql(
        "SELECT p.question, n.node_id, n.depth, n.visits FROM nodes n JOIN problems p USING (problem_id)"
    ).fetchall()
    paths = graph.sql(
        "SELECT rs.node_id, list(rs2.step_text ORDER BY rs2.position) FROM rollout_steps rs "
        "JOIN rollout_steps rs2 ON rs2.rollout_id = rs.rollout_id AND rs2.position <= rs.position "
        "GROUP BY rs.rollout_id, rs.node_id"
    ).fetchall()
    state_of = {node_id: tuple(sorted(normalize_step(s) for s in steps)) for node_id, steps in paths}
    return Counter({(question, state_of.get(node_id, ())): visits for question, node_id, _, visits in rows})


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=rollout_specs, split=st.integers(min_value=0, max_value=12))
def test_merge_matches_independent_count(tmp_path_factory, specs, split):
    path = tmp_path_factory.mktemp("merge") / "graph.duckdb"
    problems = {question: Problem(question, "5") for question in QUESTIONS}
    rollouts = [make_rollout(problems[q], steps, "5", correct) for q, steps, correct in specs]

    with StepGraph.open(path, embedder="hashed") as graph:
        # Two ingests, so the second merges into nodes the first stored.
        for part in (rollouts[:split], rollouts[split:]):
            if part:
                graph.ingest(part)
        nodes, edges, visits = expected_graph(specs)

        assert graph.sql("SELECT count(*) FROM nodes").fetchall()[0][0] == len(nodes)
        assert graph.sql("SELECT count(*) FROM edges").fetchall()[0][0] == len(edges)
        assert graph.sql("SELECT sum(traversals) FROM edges").fetchall()[0][0] == sum(len(s[1]) for s in specs)
        assert stored_visits(graph) == visits
        assert graph.index.count == len(nodes) - len({q for q, _, _ in specs})


def test_each_node_gets_its_own_text_vector(graph):
    problem = Problem("What is a + b?", "5")
    graph.ingest([make_rollout(problem, ["a = 2", "b = 3"]), make_rollout(problem, ["b = 3", "so 5"]),
                  make_rollout(problem, ["so 5"])])
    rows = graph.sql(
        "SELECT n.step_text, v.embedding FROM nodes n JOIN node_vectors v USING (node_id) ORDER BY n.node_id"
    ).fetchall()
    texts = [row[0] for row in rows]
    stored = np.array([row[1] for row in rows], dtype=np.float32)

    assert len(texts) == graph.sql("SELECT count(*) FROM nodes WHERE depth > 0").fetchall()[0][0]
    np.testing.assert_allclose(stored, graph.embed(texts), atol=1e-6)
