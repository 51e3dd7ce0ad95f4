"""Banks share one database but see only their own rows and the rows granted to them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tater_graph import Problem, StepGraph
from tater_graph.bank import (
    BankLimits, LeakageGuard, check_namespace, gc, grant, record_guard, retrieval_scope, revoke, set_limits,
    visible_namespaces,
)
from tater_graph.cli import cli
from tater_graph.errors import ConfigError, NotFoundError, QueryError
from tater_graph.planner import Planner, PlannerConfig
from tater_graph.sql import query
from conftest import make_rollout

QUESTION = "Tom has 2 apples and buys 3 more. How many apples does he have?"


def fill_banks(db_path) -> None:
    """Write one problem into each of the namespaces 'alice' and 'bob'."""
    for namespace in ("alice", "bob"):
        with StepGraph.open(db_path, embedder="hashed", namespace=namespace) as graph:
            graph.ingest([make_rollout(Problem(f"{namespace}: what is 2 + 3?", "5"), ["2 + 3 = 5", "#### 5"], "5",
                                       True)])


def test_sql_sees_only_own_namespace(db_path):
    fill_banks(db_path)

    problems = query(db_path, "SELECT namespace FROM problems", namespace="alice").fetchall()
    nodes = query(db_path, "SELECT count(*) FROM nodes", namespace="alice").fetchall()
    steps = query(db_path, "SELECT count(*) FROM rollout_steps", namespace="alice").fetchall()
    all_nodes = query(db_path, "SELECT count(*) FROM nodes").fetchall()

    assert problems == [("alice",)]
    assert nodes == [(3,)]
    assert steps == [(2,)]
    assert all_nodes == [(6,)]


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM main.nodes", "qualified table name"),
    ('SELECT * FROM "graph".main.problems', "qualified table name"),
    ("SELECT * FROM query_table('nodes')", "not allowed"),
    ("SELECT * FROM query('SELECT * FROM problems')", "not allowed"),
    ("SELECT * FROM duckdb_tables()", "table function duckdb_tables"),
    ("SELECT (SELECT count(*) FROM main.problems)", "qualified table name"),
    ("SELECT * FROM graph.nodes", "qualified table name"),
    ("SELECT * FROM some_view", "does not exist"),
])
def test_sql_rejects_ways_around_views(db_path, sql, message):
    fill_banks(db_path)

    with pytest.raises(QueryError, match=message):
        query(db_path, sql, namespace="alice").fetchall()


def test_graph_views_and_macros_are_filtered(db_path):
    fill_banks(db_path)
    with StepGraph.open(db_path) as graph:
        roots = dict(graph.sql("SELECT p.namespace, n.node_id FROM nodes n JOIN problems p USING (problem_id) "
                               "WHERE n.depth = 0").fetchall())

    problems = query(db_path, "SELECT namespace FROM graph_problems", namespace="alice").fetchall()
    own_subtree = query(db_path, f"SELECT count(*) FROM subtree({roots['alice']}, 5)", namespace="alice").fetchall()
    other_subtree = query(db_path, f"SELECT count(*) FROM subtree({roots['bob']}, 5)", namespace="alice").fetchall()
    other_path = query(db_path, "SELECT count(*) FROM best_path((SELECT problem_id FROM graph_problems LIMIT 1))",
                       namespace="bob").fetchall()

    assert problems == [("alice",)]
    assert own_subtree == [(3,)]
    assert other_subtree == [(0,)]
    assert other_path == [(3,)]


def test_unknown_table_is_empty_in_namespace(db_path):
    fill_banks(db_path)
    with StepGraph.open(db_path) as graph:
        graph.db.con.execute("CREATE TABLE later_table AS SELECT 1 AS x")

    assert query(db_path, "SELECT count(*) FROM later_table", namespace="alice").fetchall() == [(0,)]
    assert query(db_path, "SELECT count(*) FROM later_table").fetchall() == [(1,)]


def test_sql_allows_ctes_over_views(db_path):
    fill_banks(db_path)

    rows = query(db_path, "WITH mine AS (SELECT * FROM problems) SELECT count(*) FROM mine", namespace="bob").fetchall()

    assert rows == [(1,)]


def test_grant_shares_rows_one_way(db_path):
    fill_banks(db_path)
    with StepGraph.open(db_path) as graph:
        assert grant(graph.db, "alice", "bob")
        assert not grant(graph.db, "alice", "bob")

    alice_sees = query(db_path, "SELECT namespace FROM problems ORDER BY 1", namespace="alice").fetchall()
    bob_sees = query(db_path, "SELECT namespace FROM problems ORDER BY 1", namespace="bob").fetchall()

    assert alice_sees == [("alice",), ("bob",)]
    assert bob_sees == [("bob",)]


def test_revoke_ends_sharing(db_path):
    fill_banks(db_path)
    with StepGraph.open(db_path) as graph:
        grant(graph.db, "alice", "bob")
        assert revoke(graph.db, "alice", "bob")
        assert visible_namespaces(graph.db.con, "alice") == ("alice",)


def test_grant_to_itself_is_rejected(graph):
    with pytest.raises(ConfigError, match="always reads its own rows"):
        grant(graph.db, "alice", "alice")


@pytest.mark.parametrize("name", ["", "a b", "x'; DROP TABLE nodes; --", "-lead"])
def test_invalid_namespace_name_is_rejected(name):
    with pytest.raises(ConfigError, match="invalid namespace"):
        check_namespace(name)


def test_scope_covers_granted_namespaces(db_path):
    fill_banks(db_path)
    with StepGraph.open(db_path, namespace="alice") as graph:
        alone = retrieval_scope(graph)
        grant(graph.db, "alice", "bob")
        shared = retrieval_scope(graph)
        by_namespace = dict(graph.sql("SELECT namespace, problem_id FROM problems").fetchall())

        assert alone.allowed_problem_ids(graph) == {by_namespace["alice"]}
        assert shared.allowed_problem_ids(graph) == {by_namespace["alice"], by_namespace["bob"]}


def test_gc_of_one_bank_leaves_other_alone(db_path):
    fill_banks(db_path)
    with StepGraph.open(db_path) as graph:
        gc(graph, limits=BankLimits("alice", max_nodes=0))
        counts = dict(graph.sql("SELECT namespace, count(*) FROM problems GROUP BY 1").fetchall())

    assert counts == {"bob": 1}


def test_guard_excludes_by_id_hash_and_near_duplicate(graph):
    near = "Tom has 2 apples and buys 3 more. How many apples does he have now?"
    other = "A train travels 60 km in 1 hour. How far does it go in 3 hours?"
    for question in (QUESTION, near, other, "Unrelated: count the 7 ducks in the pond."):
        graph.ingest([make_rollout(Problem(question, "5"), ["2 + 3 = 5", "#### 5"], "5", True)])
    ids = dict(graph.sql("SELECT question, problem_id FROM problems").fetchall())

    by_hash = retrieval_scope(graph, LeakageGuard("eval", ("  TOM has 2 apples and buys 3 more.  How many apples "
                                                            "does he have?",), similarity_threshold=1.01))
    by_vector = retrieval_scope(graph, LeakageGuard("eval", (QUESTION,), similarity_threshold=0.8))
    by_id = retrieval_scope(graph, LeakageGuard("eval", problem_ids=frozenset({ids[other]})))

    assert by_hash.excluded_problem_ids == {ids[QUESTION]}
    assert by_vector.excluded_problem_ids == {ids[QUESTION], ids[near]}
    assert by_id.excluded_problem_ids == {ids[other]}
    assert ids[near] not in by_vector.allowed_problem_ids(graph)
    assert ids[other] in by_vector.allowed_problem_ids(graph)


def test_run_records_leakage_guard(graph):
    graph.db.con.execute("INSERT INTO runs (run_id, strategy) VALUES (1, 'best-of-n'), (2, 'best-of-n')")
    guard = LeakageGuard.from_problems("gsm8k-test[0:2]", [Problem(QUESTION, "5"), Problem("What is 1 + 1?", "2")])

    record_guard(graph.db, 1, guard, excluded=3)
    record_guard(graph.db, 2, None)

    stored = dict(graph.sql("SELECT run_id, leakage_guard FROM runs").fetchall())
    assert json.loads(stored[1]) == {"name": "gsm8k-test[0:2]", "questions": 2, "problem_ids": 0,
                                     "similarity_threshold": 0.95, "excluded_problems": 3}
    assert stored[2] is None


def test_cli_bank_commands(db_path):
    fill_banks(db_path)
    runner = CliRunner()
    base = ["--db", str(db_path)]

    limited = runner.invoke(cli, [*base, "bank", "limit", "alice", "--max-nodes", "0", "--policy", "fifo"])
    collected = runner.invoke(cli, [*base, "bank", "gc", "--json"])
    stats = runner.invoke(cli, [*base, "bank", "stats", "--json"])
    vacuumed = runner.invoke(cli, [*base, "bank", "vacuum", "--json"])
    shared = runner.invoke(cli, [*base, "bank", "grant", "alice", "bob"])
    namespaced = runner.invoke(cli, [*base, "sql", "--namespace", "alice", "--json", "SELECT count(*) AS n FROM nodes"])

    assert limited.exit_code == 0, limited.output
    assert json.loads(collected.stdout)[0]["evicted_rollouts"] == 1
    rows = {row["namespace"]: row for row in json.loads(stats.stdout)}
    assert rows["alice"]["nodes"] == 0
    assert rows["bob"]["nodes"] == 3
    assert {"item": "vectors", "value": 2} in json.loads(vacuumed.stdout)
    assert shared.exit_code == 0, shared.output
    assert json.loads(namespaced.stdout) == [{"n": 3}]


def test_cli_unknown_policy_exits_with_error(db_path):
    fill_banks(db_path)

    result = CliRunner().invoke(cli, ["--db", str(db_path), "bank", "limit", "alice", "--policy", "lruu"])

    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigError)
    assert "did you mean 'lru'" in str(result.exception)


def test_set_limits_replaces_earlier(graph):
    set_limits(graph.db, BankLimits("alice", max_nodes=10))
    set_limits(graph.db, BankLimits("alice", max_bytes=1000, policy="quality"))

    assert graph.sql("SELECT max_nodes, max_bytes, policy FROM bank_limits").fetchall() == [(None, 1000, "quality")]


def test_planner_reads_only_its_namespace(db_path):
    question = "What is 2 + 3?"
    for namespace, step in (("alice", "2 + 3 = 5"), ("bob", "3 + 2 = 5")):
        with StepGraph.open(db_path, embedder="hashed", namespace=namespace) as graph:
            graph.ingest([make_rollout(Problem(question, "5"), [step, "#### 5"], "5", True)])

    with StepGraph.open(db_path, namespace="alice") as graph:
        bob_problem = graph.sql("SELECT problem_id FROM problems WHERE namespace = 'bob'").fetchall()[0][0]
        planner = Planner(graph, PlannerConfig(scope="any", min_similarity=0.0))
        steps = [c.step_text for c in planner.continuations(question).continuations]
        approximate = planner.continuations("An unseen question", ["3 + 2 = 5"]).continuations
        similar = [s.problem_id for s in planner.similar_problems(question, k=5)]
        with pytest.raises(NotFoundError, match="not found in namespaces alice"):
            planner.best_path(bob_problem)

    assert steps == ["2 + 3 = 5"]
    assert all(c.problem_id != bob_problem for c in approximate)
    assert bob_problem not in similar


def test_planner_reads_granted_namespace(db_path):
    fill_banks(db_path)
    with StepGraph.open(db_path, namespace="alice") as graph:
        grant(graph.db, "alice", "bob")
        planner = Planner(graph)
        similar = {s.question for s in planner.similar_problems("bob: what is 2 + 3?", k=5)}
        path = planner.continuations("bob: what is 2 + 3?").continuations

    assert similar == {"alice: what is 2 + 3?", "bob: what is 2 + 3?"}
    assert [c.step_text for c in path] == ["2 + 3 = 5"]


def test_planner_with_guard_skips_eval_problems(graph):
    graph.ingest([make_rollout(Problem(QUESTION, "5"), ["2 + 3 = 5", "#### 5"], "5", True)])
    guard = LeakageGuard("eval", ("Tom has 2 apples and buys 3 more. How many apples does he have now?",),
                         similarity_threshold=0.8)

    open_planner = Planner(graph, PlannerConfig(min_similarity=0.0))
    guarded = Planner(graph, PlannerConfig(min_similarity=0.0), scope=retrieval_scope(graph, guard))

    assert open_planner.continuations(QUESTION).continuations != ()
    assert guarded.continuations(QUESTION).continuations == ()
    assert guarded.similar_problems(QUESTION, k=5) == []


def test_planner_counts_uses(graph):
    graph.ingest([make_rollout(Problem(QUESTION, "5"), ["2 + 3 = 5", "#### 5"], "5", True)])
    problem_id = graph.sql("SELECT problem_id FROM problems").fetchall()[0][0]

    with Planner(graph) as planner:
        planner.best_path(problem_id)
    with Planner(graph) as planner:
        planner.best_path(problem_id)

    used = graph.sql("SELECT uses, last_used_at IS NOT NULL FROM nodes WHERE depth > 0 ORDER BY depth").fetchall()
    assert used == [(2, True), (2, True)]
