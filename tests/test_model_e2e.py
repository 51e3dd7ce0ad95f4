"""End to end with the real bundled Gemma 3 270M model: plumbing, not accuracy."""

import json

import pytest
from click.testing import CliRunner

from tater_graph import StepGraph
from tater_graph.cli import cli
from tater_graph.datasets import load_problems
from tater_graph.search import SearchConfig, best_of_n

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model():
    from tater_graph.model.llama import LlamaBackend

    return LlamaBackend(n_ctx=1024)


def run_two(tmp_path, model, name):
    problems = load_problems("gsm8k", limit=2)
    config = SearchConfig(n=2, max_tokens=48, seed=11, shots=2)
    with StepGraph.open(tmp_path / f"{name}.duckdb", embedder="e5") as graph:
        summary = best_of_n(graph, model, problems, config, dataset="gsm8k")
        rows = graph.sql("SELECT seed, text, generated_tokens FROM rollouts ORDER BY rollout_id").fetchall()
        counts = graph.sql("SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM node_vectors)").fetchall()[0]
        index_count = graph.index.count
    return summary, rows, counts, index_count


def test_real_model_search_plumbing(tmp_path, model):
    summary, rows, (nodes, vectors), index_count = run_two(tmp_path, model, "first")
    assert summary.n_problems == 2
    assert len(rows) == 4
    assert summary.model_calls == 4
    assert 0 < summary.generated_tokens <= 4 * 48
    assert summary.generated_tokens == sum(r[2] for r in rows)
    assert summary.prompt_tokens > 0
    # Two roots plus at least one step node per rollout; every step node has a vector in the index.
    assert nodes >= 2 + 2
    assert vectors == nodes - 2
    assert index_count == vectors


def test_real_model_is_deterministic_under_seed(tmp_path, model):
    _, first, _, _ = run_two(tmp_path, model, "a")
    _, second, _, _ = run_two(tmp_path, model, "b")
    assert first == second


def test_search_command_with_real_model(tmp_path):
    db = tmp_path / "cli.duckdb"
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(db), "search", "--dataset", "gsm8k", "--limit", "1", "--n", "2",
                                 "--max-tokens", "32", "--shots", "1", "--embedder", "hashed", "--json"])
    assert result.exit_code == 0, result.output
    summary = {row["metric"]: row["value"] for row in json.loads(result.stdout)}
    assert summary["problems"] == 1
    assert summary["model calls"] == 2
    rows = runner.invoke(cli, ["--db", str(db), "sql", "SELECT count(*) AS n FROM rollouts", "--json"])
    assert json.loads(rows.stdout) == [{"n": 2}]
