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


def test_real_model_stepwise_beam_reuses_prompt_cache(tmp_path, model):
    from tater_graph.search import BeamConfig, beam_search

    problems = load_problems("arith2", limit=1)
    config = SearchConfig(n=1, seed=3, shots=1)
    beam = BeamConfig(width=1, expansions=1, max_depth=2, step_max_tokens=16)
    with StepGraph.open(tmp_path / "beam.duckdb", embedder="hashed") as graph:
        summary = beam_search(graph, model, problems, config, beam=beam)

    result = summary.problems[0]
    assert 1 <= result.model_calls <= 2
    assert 0 < result.generated_tokens <= 2 * 16
    # The second step's prompt extends the first step's prompt and completion, so llama.cpp's
    # prefix cache evaluates only the new tokens: far fewer than two full prompts.
    full_prompt = model.count_tokens(_arith_prompt(problems[0].question))
    assert result.prompt_tokens < full_prompt + 20


def _arith_prompt(question):
    from tater_graph.prompts import build_prompt, default_shots

    return build_prompt(question, default_shots(1))
