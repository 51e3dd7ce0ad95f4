"""The invariant checker: passes on sound graphs, names each broken invariant."""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.check import INVARIANTS, check_graph
from tater_graph.cli import cli
from tater_graph.model.fake import FakeModel
from tater_graph.search import SearchConfig, best_of_n

from cli_helpers import run_main

QUESTION = "Tom has 2 apples and buys 3 more. How many apples does he have?"


@pytest.fixture
def built(db_path):
    """A graph with ingested rollouts (one failed sample) and one finished best-of-n run."""
    problem = Problem(QUESTION, "5", "test", "t-1")
    model = FakeModel({QUESTION: ["He has 2.\nHe buys 3.\n#### 5", "He has 2.\nHe buys 4.\n#### 6"]},
                      fail_on=frozenset())
    with StepGraph.open(db_path, embedder="hashed") as graph:
        graph.ingest([
            Rollout(problem, ("He has 2.", "He buys 3.", "#### 5"), "5", True),
            Rollout(problem, ("He has 2.", "So 7.", "#### 7"), "7", False),
            Rollout(problem, ("Guess.", "#### 5"), "5", None),
            Rollout(problem, (), error="model timed out"),
        ])
        best_of_n(graph, model, [problem], SearchConfig(n=4, shots=0))
    return db_path


def tamper(db_path, *statements):
    con = duckdb.connect(str(db_path))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def test_sound_graph_passes_every_invariant(built):
    report = check_graph(built)

    assert report.ok, report
    assert [r.name for r in report.results] == [name for name, _ in INVARIANTS]


@pytest.mark.parametrize(("statements", "broken"), [
    # A lost step also changes the recomputed counts, so three invariants fail.
    (["DELETE FROM rollout_steps WHERE rollout_id = 1 AND position = 3"],
     "whole-rollouts node-counts edge-traversals"),
    (["UPDATE rollouts SET n_steps = 0, error = NULL WHERE rollout_id = 4"], "whole-rollouts"),
    (["INSERT INTO rollout_steps VALUES (99, 1, 2, 'orphan', NULL)"], "whole-rollouts"),
    (["UPDATE rollouts SET terminal_node_id = 1 WHERE rollout_id = 1"], "whole-rollouts node-counts"),
    (["UPDATE nodes SET visits = visits + 1 WHERE depth = 1"], "node-counts"),
    (["UPDATE nodes SET successes = successes + 1, value = (successes + 2.0) / (graded + 2.0) WHERE depth = 0"],
     "node-counts"),
    (["UPDATE nodes SET terminal_visits = 0"], "node-counts"),
    (["UPDATE nodes SET value = 0.99 WHERE depth = 2"], "node-counts"),
    (["UPDATE edges SET traversals = traversals + 2 WHERE parent_id = 1"], "edge-traversals"),
    (["DELETE FROM edges WHERE parent_id = 1"], "edge-traversals"),
    (["DELETE FROM node_vectors WHERE node_id = (SELECT max(node_id) FROM node_vectors)"], "index-in-step"),
    (["UPDATE runs SET n_problems = 5"], "run-ledger"),
    (["DELETE FROM run_problems"], "run-ledger"),
    (["UPDATE schema_version SET version = 99 WHERE version = (SELECT max(version) FROM schema_version)"],
     "schema-version"),
    (["CREATE TABLE extra_table (x INTEGER)"], "schema-version"),
])
def test_broken_invariant_is_named(built, statements, broken):
    tamper(built, *statements)

    report = check_graph(built)

    assert report.failed == broken.split()
    details = {r.name: r.detail for r in report.results}
    assert all(details[name] != "ok" for name in report.failed)


def test_index_behind_fails_until_writable_open(built):
    problem = Problem("What is 10 minus 4?", "6")
    with StepGraph.open(built) as graph:
        graph.ingest([Rollout(problem, ("10 - 4 = 6", "#### 6"), "6", True)])
        graph.db.checkpoint()  # the DuckDB rows are durable; the index is not saved
        graph.index.dirty = False  # simulate a crash before the index save

    report = check_graph(built)
    assert report.failed == ["index-in-step"]
    assert "behind" in report.results[4].detail

    StepGraph.open(built).close()
    assert check_graph(built).ok


def test_cli_check_exits_1_naming_failures(built):
    tamper(built, "UPDATE nodes SET visits = visits + 1 WHERE depth = 1",
           "UPDATE edges SET traversals = 0")

    result = CliRunner().invoke(cli, ["--db", str(built), "check", "--json"])

    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert {row["invariant"]: row["status"] for row in rows}["node-counts"] == "FAILED"
    assert "2 invariant(s) failed: node-counts, edge-traversals" in result.stderr


def test_cli_check_passes_and_repairs_index(built):
    (built.parent / (built.name + ".hnsw")).unlink()

    failing = CliRunner().invoke(cli, ["--db", str(built), "check"])
    repaired = CliRunner().invoke(cli, ["--db", str(built), "check", "--repair-index", "--json"])

    assert failing.exit_code == 1
    assert "index-in-step" in failing.stderr
    assert repaired.exit_code == 0, repaired.output
    assert all(row["status"] == "ok" for row in json.loads(repaired.stdout))


def test_cli_check_on_missing_database(tmp_path):
    result = run_main(["--db", str(tmp_path / "none.duckdb"), "check"])

    assert result.exit_code == 1
    assert "not found" in result.stderr
    assert "Traceback" not in result.output
