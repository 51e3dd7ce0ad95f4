"""Model faults: context overflow is rejected before the call; a failed sample is recorded and the run goes on."""

from __future__ import annotations

import pytest

from tater_graph import Problem, StepGraph
from tater_graph.check import check_graph
from tater_graph.errors import ContextOverflowError
from tater_graph.model.base import GenerationRequest
from tater_graph.model.fake import FakeModel
from tater_graph.search import SearchConfig, best_of_n
from tater_graph.search.common import rollout_seed

PROBLEMS = [
    Problem("Ann has 3 pens and gets 4 more. How many pens?", "7", "test", "p-1"),
    Problem("Bo has 10 cards and gives away 6. How many cards?", "4", "test", "p-2"),
    Problem("Cy reads 5 pages a day for 3 days. How many pages?", "15", "test", "p-3"),
]
SOLUTIONS = {
    PROBLEMS[0].question: ["3 plus 4 is 7.\n#### 7", "3 plus 4 is 8.\n#### 8"],
    PROBLEMS[1].question: ["10 minus 6 is 4.\n#### 4"],
    PROBLEMS[2].question: ["5 times 3 is 15.\n#### 15", "5 plus 3 is 8.\n#### 8"],
}
CONFIG = SearchConfig(n=4, shots=0, max_tokens=32)


def run_ledger(graph: StepGraph, run_id: int) -> dict[str, tuple]:
    return {
        "run": graph.sql("SELECT status, n_problems, prompt_tokens, generated_tokens, model_calls FROM runs "
                         "WHERE run_id = ?", [run_id]).fetchall()[0],
        "problems": graph.sql("SELECT count(*), sum(prompt_tokens), sum(generated_tokens), sum(model_calls), "
                              "sum(n_rollouts) FROM run_problems WHERE run_id = ?", [run_id]).fetchall()[0],
        "rollouts": graph.sql("SELECT count(DISTINCT problem_id), sum(prompt_tokens), sum(generated_tokens), "
                              "count(*), count(*) FILTER (WHERE error IS NOT NULL) FROM rollouts WHERE run_id = ?",
                              [run_id]).fetchall()[0],
    }


def test_failed_sample_recorded_and_run_continues(db_path):
    failing = rollout_seed(CONFIG.seed, PROBLEMS[0].question, 1)
    model = FakeModel(SOLUTIONS, fail_on=frozenset({failing}))

    with StepGraph.open(db_path, embedder="hashed") as graph:
        summary = best_of_n(graph, model, PROBLEMS, CONFIG)
        failed = graph.sql("SELECT seed, n_steps, error FROM rollouts WHERE error IS NOT NULL").fetchall()
        ledger = run_ledger(graph, summary.run_id)

    assert failed == [(failing, 0, f"scripted failure for seed {failing}")]
    assert summary.n_problems == 3
    assert summary.n_correct == 3
    assert summary.model_calls == 12
    assert ledger["run"] == ("finished", 3, summary.prompt_tokens, summary.generated_tokens, 12)
    # The failed call generated nothing: the ledger totals equal the rollouts' sums.
    assert ledger["problems"] == (3, summary.prompt_tokens, summary.generated_tokens, 12, 12)
    assert ledger["rollouts"] == (3, summary.prompt_tokens, summary.generated_tokens, 12, 1)
    assert check_graph(db_path).ok


def test_problem_whose_samples_all_fail(db_path):
    failing = frozenset(rollout_seed(CONFIG.seed, PROBLEMS[1].question, sample) for sample in range(CONFIG.n))
    model = FakeModel(SOLUTIONS, fail_on=failing)

    with StepGraph.open(db_path, embedder="hashed") as graph:
        summary = best_of_n(graph, model, PROBLEMS, CONFIG)
        ledger = run_ledger(graph, summary.run_id)

    by_problem = {result.gold_answer: result for result in summary.problems}
    assert by_problem["4"].answer is None
    assert by_problem["4"].is_correct is False
    assert by_problem["4"].generated_tokens == 0
    assert by_problem["7"].is_correct and by_problem["15"].is_correct
    assert ledger["run"][:2] == ("finished", 3)
    assert ledger["rollouts"][3:] == (12, 4)
    assert check_graph(db_path).ok


def test_context_overflow_rejected_before_generating():
    model = FakeModel(SOLUTIONS, n_ctx=50)
    request = GenerationRequest("word " * 40, max_tokens=20)

    with pytest.raises(ContextOverflowError, match="prompt of 40 tokens plus a budget of 20 exceeds the 50-token"):
        model.generate(request)


def test_context_overflow_recorded_on_each_rollout(db_path):
    model = FakeModel(SOLUTIONS, n_ctx=30)

    with StepGraph.open(db_path, embedder="hashed") as graph:
        summary = best_of_n(graph, model, PROBLEMS[:1], SearchConfig(n=2, shots=0, max_tokens=25))
        errors = graph.sql("SELECT error FROM rollouts").fetchall()

    assert summary.generated_tokens == 0
    assert len(errors) == 2
    assert all("exceeds the 30-token context" in error for (error,) in errors)
    assert check_graph(db_path).ok


def test_run_ends_with_checkpoint(db_path):
    with StepGraph.open(db_path, embedder="hashed") as graph:
        best_of_n(graph, FakeModel(SOLUTIONS), PROBLEMS, CONFIG)
        wal = db_path.with_name(db_path.name + ".wal")
        index = db_path.with_name(db_path.name + ".hnsw")

        # Still open: the run's finish checkpointed DuckDB and saved the index.
        assert not wal.exists() or wal.stat().st_size == 0
        assert index.exists()
        assert not graph.index.dirty


@pytest.mark.model
@pytest.mark.slow
def test_llama_rejects_overflow_without_calling_model(monkeypatch):
    from tater_graph.model.llama import LlamaBackend

    backend = LlamaBackend(n_ctx=256, n_threads=1)
    calls = []
    monkeypatch.setattr(backend.llm, "create_completion", lambda *args, **kwargs: calls.append(args))
    request = GenerationRequest("Count with me: " + "one two three " * 80, max_tokens=64)

    with pytest.raises(ContextOverflowError, match="exceeds the 256-token context") as caught:
        backend.generate(request)

    assert calls == []
    assert "lower --max-tokens, or raise --n-ctx" in str(caught.value)
