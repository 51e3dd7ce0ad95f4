"""Run reports, on a best-of-N run of the deterministic fake model."""

from __future__ import annotations

import json

import matplotlib.image
import pytest
from click.testing import CliRunner

from tater_graph import Problem, StepGraph
from tater_graph.cli import cli
from tater_graph.errors import NotFoundError
from tater_graph.model.fake import FakeModel
from tater_graph.report import REPORT_FILES, load_run, write_report
from tater_graph.search import SearchConfig, get_strategy
from tater_graph.store.database import Database

RIGHT = Problem("Tom has 2 apples and buys 3 more. How many apples?", "5", "test", "right-1")
WRONG = Problem("A | pipe and\na line break: how many sides has a square?", "4", "test", "wrong-1")
SOLUTIONS = {
    RIGHT.question: ["Start with 2 apples.\nAdd 3 apples: 2 + 3 = 5.\n#### 5"],
    WRONG.question: ["A square has 3 sides.\n#### 3"],
}


@pytest.fixture
def run_db(tmp_path):
    """A database with one finished best-of-3 run over the two problems; returns (path, run id)."""
    path = tmp_path / "graph.duckdb"
    config = SearchConfig(n=3, max_tokens=64, shots=0)
    with StepGraph.open(path, embedder="hashed") as graph:
        summary = get_strategy("best-of-n")(graph, FakeModel(SOLUTIONS), [RIGHT, WRONG], config, dataset="test")
    return path, summary.run_id


def test_vote_curve_counts_first_k_rollouts(run_db):
    path, run_id = run_db

    with Database(path, read_only=True) as db:
        data = load_run(db, run_id)

    assert [point.k for point in data.curve] == [1, 2, 3]
    assert [point.accuracy for point in data.curve] == [0.5, 0.5, 0.5]
    tokens_per_rollout = data.curve[0].generated_tokens_per_problem
    assert tokens_per_rollout > 0
    assert data.curve[2].generated_tokens_per_problem == pytest.approx(3 * tokens_per_rollout)
    assert len(data.problems) == 2
    assert len(data.terminal_values) == 2
    assert len(data.node_values) + len(data.terminal_values) == 5  # 3 steps of RIGHT, 2 of WRONG


def test_report_writes_markdown_and_plots(run_db, tmp_path):
    path, run_id = run_db

    with Database(path, read_only=True) as db:
        files = write_report(db, run_id, tmp_path / "report")

    assert [file.name for file in files] == list(REPORT_FILES)
    markdown = files[0].read_text()
    assert f"# Run {run_id}: best-of-n on test" in markdown
    assert "| accuracy (majority vote) | 1/2 (50.0%) | - |" in markdown
    assert "A \\| pipe and a line break" in markdown
    problem_rows = [line for line in markdown.splitlines() if "right-1" in line or "wrong-1" in line]
    assert len(problem_rows) == 2
    for plot in files[1:]:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width, _ = matplotlib.image.imread(plot).shape
        assert width >= 600
        assert height >= 400
        assert f"]({plot.name})" in markdown


def test_report_missing_run(run_db, tmp_path):
    path, _ = run_db

    with Database(path, read_only=True) as db, pytest.raises(NotFoundError, match="run 99 not found"):
        write_report(db, 99, tmp_path / "report")

    assert not (tmp_path / "report").exists()


def test_report_command_lists_files(run_db, tmp_path):
    path, run_id = run_db

    result = CliRunner().invoke(cli, ["--db", str(path), "report", str(run_id), "-o", str(tmp_path / "r"), "--json"])

    assert result.exit_code == 0, result.output
    assert [row["file"] for row in json.loads(result.stdout)] == [str(tmp_path / "r" / name) for name in REPORT_FILES]


def test_export_command_writes_each_format(run_db, tmp_path):
    path, run_id = run_db
    runner = CliRunner()

    for fmt, count in (("graphml", 1), ("gexf", 1), ("json", 1), ("dot", 1), ("html", 1), ("parquet", 2),
                       ("csv", 2)):
        result = runner.invoke(cli, ["--db", str(path), "export", "--run", str(run_id), "--format", fmt,
                                     "-o", str(tmp_path / f"run.{fmt}"), "--json"])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)
        assert len(rows) == count
        assert all(row["nodes"] == 7 and row["edges"] == 5 for row in rows)


def test_export_command_needs_one_selection(run_db):
    path, _ = run_db

    result = CliRunner().invoke(cli, ["--db", str(path), "export", "--problem", "1", "--run", "1"])

    assert result.exit_code == 2
    assert "choose exactly one of --problem, --run, --node or --dataset/--namespace" in result.output


def test_report_of_empty_run(tmp_path):
    path = tmp_path / "graph.duckdb"
    with StepGraph.open(path, embedder="hashed") as graph:
        graph.db.con.execute("INSERT INTO runs (run_id, strategy, status) VALUES (5, 'best-of-n', 'interrupted')")

    with Database(path, read_only=True) as db:
        files = write_report(db, 5, tmp_path / "report")

    markdown = files[0].read_text()
    assert "| accuracy (majority vote) | no graded problem | - |" in markdown
    assert "0 nodes below the roots" in markdown
    assert all(plot.stat().st_size > 0 for plot in files[1:])
