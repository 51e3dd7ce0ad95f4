"""Eviction keeps the graph consistent: whole rollouts, recounted nodes and edges, no stale vectors."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from tater_graph import Problem, StepGraph
from tater_graph.bank import (
    BankLimits, consistency_violations, evict_rollouts, gc, get_policy, namespace_usage, record_use, register_policy,
    EvictionPolicy,
)
from tater_graph.check import check_graph
from tater_graph.errors import ConfigError
from conftest import make_rollout

P1 = Problem("Ann has 3 pens and buys 4 more. How many pens?", "7", "test", "p1")
P2 = Problem("A box holds 5 eggs. How many eggs in 2 boxes?", "10", "test", "p2")


def shared_prefix_rollouts():
    """Rollouts that share prefixes, reach one state in two orders, and end in several ways."""
    return [
        make_rollout(P1, ["3 + 4 = 7", "So 7 pens.", "#### 7"], "7", True),
        make_rollout(P1, ["3 + 4 = 7", "So 7 pens.", "#### 8"], "8", False),
        make_rollout(P1, ["So 7 pens.", "3 + 4 = 7", "#### 7"], "7", True),
        make_rollout(P1, ["3 * 4 = 12", "#### 12"], "12", None),
        make_rollout(P2, ["5 * 2 = 10", "#### 10"], "10", True),
        make_rollout(P2, ["5 + 2 = 7", "#### 7"], "7", False),
    ]


def node_table(graph: StepGraph) -> dict[tuple[str, str], tuple]:
    """Return every node keyed by (question, state key) with its counts, for comparing two graphs."""
    rows = graph.sql(
        "SELECT p.question, n.state_key, n.visits, n.graded, n.successes, n.terminal_visits, n.value, n.answer "
        "FROM nodes n JOIN problems p USING (problem_id)"
    ).fetchall()
    return {(row[0], row[1]): row[2:] for row in rows}


def edge_table(graph: StepGraph) -> dict[tuple[str, str, str], int]:
    rows = graph.sql(
        "SELECT p.question, a.state_key, b.state_key, e.traversals FROM edges e JOIN nodes a ON a.node_id = e.parent_id "
        "JOIN nodes b ON b.node_id = e.child_id JOIN problems p ON p.problem_id = e.problem_id"
    ).fetchall()
    return {(row[0], row[1], row[2]): row[3] for row in rows}


def test_evicting_one_rollout_keeps_shared_prefix(graph):
    written = graph.ingest(shared_prefix_rollouts())
    wrong = written.rollout_ids[1]

    result = evict_rollouts(graph.db, [wrong])

    assert result.rollouts == 1
    assert result.nodes == 1  # only the "#### 8" state was the wrong rollout's alone
    assert consistency_violations(graph.db.con) == {}
    root_visits = graph.sql("SELECT visits, graded, successes FROM nodes n JOIN problems p USING (problem_id) "
                            "WHERE p.source_id = 'p1' AND n.depth = 0").fetchall()
    assert root_visits == [(3, 2, 2)]


def test_evicting_every_rollout_of_problem_removes_it(graph):
    written = graph.ingest(shared_prefix_rollouts())

    evict_rollouts(graph.db, written.rollout_ids[4:])

    assert consistency_violations(graph.db.con) == {}
    assert graph.sql("SELECT count(*) FROM problems WHERE source_id = 'p2'").fetchall() == [(0,)]
    assert graph.sql("SELECT count(*) FROM problem_vectors").fetchall() == [(1,)]
    assert graph.sql("SELECT count(*) FROM nodes n JOIN problems p USING (problem_id) "
                     "WHERE p.source_id = 'p1'").fetchall()[0][0] == graph.sql("SELECT count(*) FROM nodes").fetchall()[0][0]


def test_problem_named_by_run_ledger_is_kept(graph):
    written = graph.ingest(shared_prefix_rollouts())
    problem_id = graph.sql("SELECT problem_id FROM problems WHERE source_id = 'p2'").fetchall()[0][0]
    graph.db.con.execute("INSERT INTO run_problems VALUES (1, ?, '10', true, 2, 0, 0, 0, 0, 0)", [problem_id])

    evict_rollouts(graph.db, written.rollout_ids[4:])

    assert graph.sql("SELECT count(*) FROM problems WHERE problem_id = ?", [problem_id]).fetchall() == [(1,)]
    assert graph.sql("SELECT count(*) FROM nodes WHERE problem_id = ?", [problem_id]).fetchall() == [(0,)]
    assert consistency_violations(graph.db.con) == {}


def test_eviction_removes_experiences_and_scores(graph):
    written = graph.ingest(shared_prefix_rollouts())
    leaf = graph.sql("SELECT terminal_node_id FROM rollouts WHERE rollout_id = ?", [written.rollout_ids[3]]).fetchall()[0][0]
    graph.db.con.execute("INSERT INTO step_scores (node_id, scorer, score) VALUES (?, 'test', 0.5)", [leaf])
    graph.db.con.execute("INSERT INTO experiences (experience_id, problem_id, node_id, kind, content, visits, value, "
                         "source_rollouts) SELECT 1, problem_id, 1, 'positive', 'x', 1, 0.5, [?] FROM nodes "
                         "WHERE node_id = 1", [written.rollout_ids[3]])

    evict_rollouts(graph.db, [written.rollout_ids[3]])

    assert graph.sql("SELECT count(*) FROM step_scores").fetchall() == [(0,)]
    assert graph.sql("SELECT count(*) FROM experiences").fetchall() == [(0,)]


steps = st.sampled_from(["a = 1", "b = 2", "a + b = 3", "#### 3", "#### 4", "c = 5"])
rollout_specs = st.lists(
    st.tuples(st.integers(0, 2), st.lists(steps, min_size=1, max_size=4), st.sampled_from([True, False, None])),
    min_size=1, max_size=12,
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=rollout_specs, data=st.data())
def test_eviction_matches_fresh_ingest_of_rest(tmp_path_factory, specs, data):
    problems = [Problem(f"Question {i}: what is a + b?", "3", "test", f"q{i}") for i in range(3)]
    rollouts = [make_rollout(problems[p], s, s[-1][5:] if s[-1].startswith("####") else None, c)
                for p, s, c in specs]
    victims = data.draw(st.sets(st.integers(0, len(rollouts) - 1)))
    folder = tmp_path_factory.mktemp("evict")

    with StepGraph.open(folder / "evicted.duckdb", embedder="hashed") as evicted, \
            StepGraph.open(folder / "fresh.duckdb", embedder="hashed") as fresh:
        written = evicted.ingest(rollouts)
        evict_rollouts(evicted.db, [written.rollout_ids[i] for i in victims])
        rest = [r for i, r in enumerate(rollouts) if i not in victims]
        if rest:
            fresh.ingest(rest)

        assert consistency_violations(evicted.db.con) == {}
        assert node_table(evicted) == node_table(fresh)
        assert edge_table(evicted) == edge_table(fresh)
        assert evicted.sql("SELECT count(*) FROM node_vectors").fetchall() == \
            fresh.sql("SELECT count(*) FROM node_vectors").fetchall()


def test_gc_rebuilds_index_without_evicted_labels(graph):
    graph.ingest(shared_prefix_rollouts())
    first_victim = get_policy("quality").rank(graph.db.con, "default")[0]
    doomed = graph.sql("SELECT terminal_node_id FROM rollouts WHERE rollout_id = ?", [first_victim]).fetchall()[0][0]
    vector = np.array(graph.sql("SELECT embedding FROM node_vectors WHERE node_id = ?", [doomed]).fetchall()[0][0],
                      dtype=np.float32)
    assert doomed in graph.index.query(vector, k=graph.index.count)[0][0]

    usage = namespace_usage(graph.db.con, "default")
    reports = gc(graph, limits=BankLimits("default", max_nodes=usage.nodes - 1, policy="quality"))

    assert reports[0].evicted.rollouts >= 1
    labels, _ = graph.index.query(vector, k=graph.index.count)
    stored = {row[0] for row in graph.sql("SELECT node_id FROM node_vectors").fetchall()}
    assert doomed not in labels[0]
    assert set(labels[0].tolist()) == stored


def test_index_after_gc_loads_without_rebuild(db_path):
    with StepGraph.open(db_path, embedder="hashed") as graph:
        graph.ingest(shared_prefix_rollouts())
        gc(graph, limits=BankLimits("default", max_nodes=5, policy="fifo"))
        remaining = graph.index.count

    with StepGraph.open(db_path) as reopened:
        assert reopened.index_status == "loaded"
        assert reopened.index.count == remaining
    report = check_graph(db_path)
    assert report.failed == []


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu", "quality"])
def test_gc_reaches_node_limit(graph, policy):
    graph.ingest(shared_prefix_rollouts())

    report = gc(graph, limits=BankLimits("default", max_nodes=6, policy=policy))[0]

    assert report.within_limits
    assert report.after.nodes <= 6
    assert consistency_violations(graph.db.con) == {}


def test_gc_reaches_byte_limit(graph):
    graph.ingest(shared_prefix_rollouts())
    before = namespace_usage(graph.db.con, "default").bytes

    report = gc(graph, limits=BankLimits("default", max_bytes=before // 2))[0]

    assert report.within_limits
    assert report.after.bytes <= before // 2
    assert graph.sql("SELECT count(*) FROM bank_evictions").fetchall() == [(1,)]


def test_gc_dry_run_changes_nothing(graph):
    graph.ingest(shared_prefix_rollouts())
    nodes = graph.sql("SELECT count(*) FROM nodes").fetchall()

    report = gc(graph, limits=BankLimits("default", max_nodes=3), dry_run=True)[0]

    assert report.evicted.rollouts > 0
    assert graph.sql("SELECT count(*) FROM nodes").fetchall() == nodes


def test_lru_keeps_used_rollout_that_fifo_evicts(tmp_path):
    kept = {}
    for policy in ("lru", "fifo"):
        with StepGraph.open(tmp_path / f"{policy}.duckdb", embedder="hashed") as graph:
            first = graph.ingest([make_rollout(P1, ["3 + 4 = 7", "#### 7"], "7", True)]).rollout_ids[0]
            graph.ingest([make_rollout(P2, ["5 * 2 = 10", "#### 10"], "10", True)])
            record_use(graph.db, [n for (n,) in graph.sql(
                "SELECT node_id FROM rollout_steps WHERE rollout_id = ?", [first]).fetchall()])
            gc(graph, limits=BankLimits("default", max_nodes=3, policy=policy))
            kept[policy] = graph.sql("SELECT count(*) FROM rollouts WHERE rollout_id = ?", [first]).fetchall()[0][0]

    assert kept == {"lru": 1, "fifo": 0}


def test_lfu_evicts_least_used_first(graph):
    first = graph.ingest([make_rollout(P1, ["3 + 4 = 7", "#### 7"], "7", True)]).rollout_ids[0]
    second = graph.ingest([make_rollout(P2, ["5 * 2 = 10", "#### 10"], "10", True)]).rollout_ids[0]
    first_nodes = [n for (n,) in graph.sql("SELECT node_id FROM rollout_steps WHERE rollout_id = ?", [first]).fetchall()]
    second_nodes = [n for (n,) in graph.sql("SELECT node_id FROM rollout_steps WHERE rollout_id = ?",
                                            [second]).fetchall()]
    for _ in range(3):
        record_use(graph.db, first_nodes)
    record_use(graph.db, second_nodes)  # the most recent use, which LRU would keep

    assert get_policy("lfu").rank(graph.db.con, "default") == [second, first]
    assert get_policy("lru").rank(graph.db.con, "default") == [first, second]


quality_specs = st.lists(st.tuples(st.booleans(), st.sampled_from([True, None])), min_size=2, max_size=10)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=quality_specs, keep=st.integers(1, 30))
def test_quality_never_evicts_verified_before_unverified(tmp_path_factory, specs, keep):
    rollouts = []
    for number, (shared, correct) in enumerate(specs):
        problem = Problem(f"Problem {number % 3}: add the numbers.", "3", "test")
        first = "a + b = 3" if shared else f"guess {number}"
        rollouts.append(make_rollout(problem, [first, f"#### {3 if correct else number}"],
                                     "3" if correct else str(number), correct))

    with StepGraph.open(tmp_path_factory.mktemp("quality") / "g.duckdb", embedder="hashed") as graph:
        written = graph.ingest(rollouts)
        gc(graph, limits=BankLimits("default", max_nodes=keep, policy="quality"))
        left = {row[0] for row in graph.sql("SELECT rollout_id FROM rollouts").fetchall()}

    evicted_verified = [rid for rid, r in zip(written.rollout_ids, rollouts) if r.is_correct and rid not in left]
    kept_unverified = [rid for rid, r in zip(written.rollout_ids, rollouts) if r.is_correct is None and rid in left]
    if evicted_verified:
        assert kept_unverified == []


def test_unknown_policy_suggests_closest():
    with pytest.raises(ConfigError, match=r"unknown eviction policy 'fif0' \(did you mean 'fifo'\?\)"):
        get_policy("fif0")


def test_registered_policy_is_used_by_gc(graph):
    register_policy(EvictionPolicy("newest-first", "newest rollout first", "created_at DESC, rollout_id DESC"))
    written = graph.ingest(shared_prefix_rollouts())

    gc(graph, limits=BankLimits("default", max_nodes=graph.sql("SELECT count(*) FROM nodes").fetchall()[0][0] - 1,
                                policy="newest-first"))

    assert graph.sql("SELECT count(*) FROM rollouts WHERE rollout_id = ?", [written.rollout_ids[-1]]).fetchall() == [(0,)]


def test_negative_limit_is_rejected():
    with pytest.raises(ConfigError, match="invalid max_nodes -1"):
        BankLimits("default", max_nodes=-1)


def test_gc_without_limits_raises(graph):
    with pytest.raises(ConfigError, match="bank limit default"):
        gc(graph, ["default"])


def test_eviction_recounts_vote_outcomes(graph):
    present = {row[0] for row in graph.sql("SELECT column_name FROM duckdb_columns() WHERE table_name = 'nodes'")
               .fetchall()}
    if "vote_graded" not in present:
        graph.db.con.execute("ALTER TABLE nodes ADD COLUMN vote_graded BIGINT DEFAULT 0")
        graph.db.con.execute("ALTER TABLE nodes ADD COLUMN vote_successes BIGINT DEFAULT 0")
        graph.db.con.execute("ALTER TABLE rollouts ADD COLUMN agrees_with_vote BOOLEAN")
    written = graph.ingest([make_rollout(P1, ["3 + 4 = 7", "#### 7"], "7", None),
                            make_rollout(P1, ["3 + 4 = 7", "#### 8"], "8", None),
                            make_rollout(P1, ["3 + 4 = 7", "#### 7"], "7", None)])
    graph.db.con.execute("UPDATE rollouts SET agrees_with_vote = (answer = '7')")
    graph.db.con.execute("UPDATE nodes SET vote_graded = 3, vote_successes = 2 WHERE depth < 2")

    evict_rollouts(graph.db, [written.rollout_ids[0]])

    counts = graph.sql("SELECT depth, vote_graded, vote_successes FROM nodes WHERE depth < 2 ORDER BY depth").fetchall()
    assert counts == [(0, 2, 1), (1, 2, 1)]
