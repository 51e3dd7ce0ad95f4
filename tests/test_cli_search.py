"""The search command with the replay backend and recycling switches, on a real database."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tater_graph.cli import cli


def run_search(db, *options):
    arguments = ["--db", str(db), "search", "--dataset", "processbench-gsm8k", "--limit", "3", "--n", "2",
                 "--shots", "0", "--replay", "processbench-gsm8k", "--embedder", "hashed", "--json", *options]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    return _rows(result.stdout)


def _rows(stdout: str) -> dict[str, object]:
    rows = json.loads(stdout[stdout.index("["):])
    return {row["metric"]: row["value"] for row in rows}


def test_search_replay_then_reuse(tmp_path):
    db = tmp_path / "g.duckdb"

    first = run_search(db)
    second = run_search(db, "--reuse")

    assert first["generated tokens"] > 0
    assert first["reused tokens"] == 0
    assert second["generated tokens"] == 0
    assert second["reused tokens"] == first["generated tokens"]
    assert second["accuracy"] == first["accuracy"]


def test_search_recycle_all_with_override(tmp_path):
    db = tmp_path / "g.duckdb"
    run_search(db, "--offset", "300")  # ProcessBench lists its correct recordings last

    summary = run_search(db, "--offset", "300", "--recycle", "all", "--no-reuse")

    assert summary["generated tokens"] > 0
    assert summary["reused tokens"] > 0  # prefixes from the stored paths


def test_search_unknown_recycle_mode_is_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "g.duckdb"), "search", "--recycle", "fast"])

    assert result.exit_code == 2
    assert "fast" in result.output


def test_search_beam_with_replay(tmp_path):
    summary = run_search(tmp_path / "g.duckdb", "--offset", "300", "--strategy", "beam", "--width", "2",
                         "--scorer", "graph-value")

    assert summary["problems"] == 3
    assert summary["generated tokens"] > 0
    assert summary["model calls"] > 3


def test_search_unknown_scorer_is_error(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "g.duckdb"), "search", "--dataset", "processbench-gsm8k",
                                      "--replay", "processbench-gsm8k", "--strategy", "beam", "--scorer", "arithmetc",
                                      "--embedder", "hashed"])

    assert result.exit_code == 1
    assert "did you mean 'arithmetic'" in str(result.exception)


def test_leakage_guard_blocks_reuse_of_evaluated_problems(tmp_path):
    db = tmp_path / "g.duckdb"
    first = run_search(db)

    guarded = run_search(db, "--reuse", "--leakage-guard")

    assert guarded["reused tokens"] == 0
    assert guarded["generated tokens"] == first["generated tokens"]
    result = CliRunner().invoke(cli, ["--db", str(db), "sql", "SELECT leakage_guard FROM runs ORDER BY run_id",
                                      "--json"])
    records = [row["leakage_guard"] for row in json.loads(result.stdout)]
    assert records[0] is None
    guard = json.loads(records[1])
    assert guard["name"] == "processbench-gsm8k[0:3]"
    assert guard["questions"] == 3
    assert guard["excluded_problems"] == 3
