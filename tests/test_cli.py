"""The command line: help, exit codes, output formats, on a real database."""

import json
import subprocess
import sys

import networkx as nx
import pytest
from click.testing import CliRunner

from tater_graph.cli import cli
from tater_graph.datasets import data_path


def all_commands(group=cli, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,)
        if hasattr(command, "commands"):
            yield from all_commands(command, prefix + (name,))


@pytest.mark.parametrize("path", list(all_commands()), ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    doc = cli.get_command(None, path[0]).help
    assert doc and len(doc.strip()) > 10


@pytest.fixture(scope="module")
def filled_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("cli") / "g.duckdb"
    source = tmp_path_factory.mktemp("src") / "pb.json.gz"
    source.write_bytes(data_path("processbench_gsm8k.json.gz").read_bytes())
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(source), "--format", "processbench",
                                      "--embedder", "hashed"])
    assert result.exit_code == 0, result.output
    return db


def test_sql_json_output(filled_db):
    result = CliRunner().invoke(cli, ["--db", str(filled_db), "sql", "SELECT count(*) AS n FROM rollouts", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{"n": 400}]


def test_sql_jsonl_output(filled_db):
    result = CliRunner().invoke(cli, ["--db", str(filled_db), "sql",
                                      "SELECT problem_id FROM problems ORDER BY 1 LIMIT 3", "--jsonl"])
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"problem_id": 1}, {"problem_id": 2}, {"problem_id": 3}]


def test_db_from_environment(filled_db):
    result = CliRunner().invoke(cli, ["stats", "--json"], env={"TATER_GRAPH_DB": str(filled_db)})
    assert result.exit_code == 0
    counts = {row["item"]: row["value"] for row in json.loads(result.stdout)}
    assert counts["rollouts"] == 400
    assert counts["embedder"] == "hashed"


def test_export_graphml_round_trip(filled_db, tmp_path):
    out = tmp_path / "p1.graphml"
    result = CliRunner().invoke(cli, ["--db", str(filled_db), "export", "--problem", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    graph = nx.read_graphml(out)
    runner = CliRunner()
    counts = json.loads(runner.invoke(cli, ["--db", str(filled_db), "sql",
                                            "SELECT count(*) AS n FROM nodes WHERE problem_id = 1", "--json"]).stdout)
    assert graph.number_of_nodes() == counts[0]["n"]


def test_export_unknown_problem_is_an_error(filled_db, tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(filled_db), "export", "--problem", "99999",
                                      "-o", str(tmp_path / "x.graphml")])
    assert result.exit_code != 0
    assert "problem 99999 not found" in str(result.exception)
    assert not (tmp_path / "x.graphml").exists()


def test_error_exit_code_and_message_in_subprocess(tmp_path):
    """Project errors print 'Error: ...' on stderr and exit 1, without a traceback."""
    result = subprocess.run(
        [sys.executable, "-c", "from tater_graph.cli import main; main()", "--db", str(tmp_path / "none.duckdb"),
         "sql", "SELECT 1"],
        capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: database")
    assert "Traceback" not in result.stderr


def test_usage_error_exit_code_is_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from tater_graph.cli import main; main()", "search", "--n", "0"],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "Invalid value for '--n'" in result.stderr


def test_migrate_list(filled_db):
    result = CliRunner().invoke(cli, ["--db", str(filled_db), "migrate", "--list"])
    assert result.exit_code == 0
    assert "0001" in result.output
    assert "applied" in result.output
