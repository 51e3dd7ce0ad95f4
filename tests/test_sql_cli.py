"""The ``tater-graph sql`` command: output formats, options and errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from sql_helpers import build_small_graph
from tater_graph.cli import cli
from tater_graph.errors import QueryRejectedError, QueryRowLimitError

QUERY = "SELECT hop, node_id, step_text FROM best_path(1)"


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    return build_small_graph(tmp_path_factory.mktemp("cli") / "small.duckdb")


def _invoke(db, *args, input=None):
    return CliRunner().invoke(cli, ["--db", str(db), "sql", *args], input=input)


def test_table_output(small_db):
    result = _invoke(small_db, QUERY)

    assert result.exit_code == 0, result.output
    assert "step_text" in result.output
    assert "He buys 3 more apples." in result.output


def test_json_output(small_db):
    result = _invoke(small_db, "--json", QUERY)

    rows = json.loads(result.stdout)
    assert [row["hop"] for row in rows] == [0, 1, 2, 3]
    assert rows[3]["step_text"] == "The answer is 5."


def test_jsonl_output(small_db):
    result = _invoke(small_db, "--jsonl", QUERY)

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["node_id"] for line in lines] == [1, 7, 8, 9]


def test_csv_output(small_db):
    result = _invoke(small_db, "--csv", QUERY)

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["hop", "node_id", "step_text"]
    assert rows[1:] == [["0", "1", ""], ["1", "7", "He buys 3 more apples."], ["2", "8", "He has 2 apples."],
                        ["3", "9", "The answer is 5."]]


def test_parquet_output(small_db, tmp_path):
    target = tmp_path / "out" / "best.parquet"

    result = _invoke(small_db, "--parquet", str(target), QUERY)

    assert result.exit_code == 0, result.output
    table = pq.read_table(target)
    assert table.column_names == ["hop", "node_id", "step_text"]
    assert table.num_rows == 4
    assert result.stdout == ""


def test_query_from_stdin(small_db):
    result = _invoke(small_db, "--json", "-", input="SELECT count(*) AS n FROM graph_nodes")

    assert json.loads(result.stdout) == [{"n": 9}]


def test_dialect_option(small_db):
    result = _invoke(small_db, "--json", "--dialect", "postgres",
                     "SELECT node_id::text AS id FROM graph_nodes ORDER BY node_id LIMIT 1")

    assert json.loads(result.stdout) == [{"id": "1"}]


def test_two_formats_is_usage_error(small_db):
    result = _invoke(small_db, "--json", "--csv", QUERY)

    assert result.exit_code == 2
    assert "choose one output format" in result.output


def test_max_rows_option(small_db):
    result = _invoke(small_db, "--max-rows", "3", "SELECT * FROM graph_nodes")

    assert isinstance(result.exception, QueryRowLimitError)
    assert "more than 3 rows" in str(result.exception)


def test_rejected_query_raises(small_db):
    result = _invoke(small_db, "SELECT * FROM read_csv('/etc/passwd')")

    assert isinstance(result.exception, QueryRejectedError)


def test_error_exit_code_and_message(small_db):
    command = [sys.executable, "-c", "from tater_graph.cli import main; main()", "--db", str(small_db), "sql",
               "SELECT valeu FROM graph_nodes"]

    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert finished.returncode == 1
    assert finished.stderr.startswith("Error: Binder error at line 1, column 8")
    assert "Did you mean 'value'?" in finished.stderr
    assert finished.stdout == ""


def test_help_has_example():
    result = CliRunner().invoke(cli, ["sql", "--help"])

    assert result.exit_code == 0
    assert "tater-graph sql" in result.output
    assert "--max-rows" in result.output
