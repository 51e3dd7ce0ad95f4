"""Best-of-N: sample N rollouts per problem, store them all, answer by majority vote."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import duckdb

from tater_graph.answers import answers_match, majority_vote
from tater_graph.graph import StepGraph
from tater_graph.model.base import ModelBackend
from tater_graph.records import IngestResult, Problem, ProblemResult, RunSummary
from tater_graph.search.common import ProgressCallback, RunRecorder, SearchConfig, sample_rollout

logger = logging.getLogger(__name__)


def best_of_n(graph: StepGraph, model: ModelBackend, problems: Sequence[Problem], config: SearchConfig = SearchConfig(),
              *, dataset: str | None = None, progress: ProgressCallback | None = None) -> RunSummary:
    """Run best-of-N on ``problems`` and record everything in ``graph``.

    Each problem's N rollouts and its ledger row are written in one
    transaction after they are all sampled, so an interrupted run leaves
    whole problems only. The
    answer is the majority vote (weighted by rollout score when every
    rollout has one).
    """
    recorder = RunRecorder(graph, "best-of-n", dataset, model.name, config.to_json())
    status = "failed"
    try:
        for number, problem in enumerate(problems, start=1):
            result = _solve(graph, model, problem, config, recorder)
            recorder.results.append(result)
            if progress is not None:
                progress(number, len(problems), result)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        summary = recorder.finish(status)
        logger.info("run %d %s: %d/%d correct, %d tokens generated", summary.run_id, status,
                    summary.n_correct, summary.n_problems, summary.generated_tokens)
    return summary


def _solve(graph: StepGraph, model: ModelBackend, problem: Problem, config: SearchConfig,
           recorder: RunRecorder) -> ProblemResult:
    started = time.perf_counter()
    rollouts = [sample_rollout(model, problem, config, sample) for sample in range(config.n)]

    scores = [r.score for r in rollouts]
    weights = scores if all(s is not None for s in scores) else None
    answer = majority_vote([r.answer for r in rollouts], weights)
    results: list[ProblemResult] = []

    def record(con: duckdb.DuckDBPyConnection, written: IngestResult) -> None:
        problem_id = con.execute(
            "SELECT problem_id FROM rollouts WHERE rollout_id = ?", [written.rollout_ids[0]]
        ).fetchall()[0][0]
        result = ProblemResult(
            problem_id=problem_id, answer=answer, gold_answer=problem.gold_answer,
            is_correct=answers_match(answer, problem.gold_answer), n_rollouts=len(rollouts),
            prompt_tokens=sum(r.prompt_tokens for r in rollouts),
            generated_tokens=sum(r.generated_tokens for r in rollouts), reused_tokens=0,
            model_calls=len(rollouts), wall_seconds=time.perf_counter() - started,
        )
        recorder.insert_row(con, result)
        results.append(result)

    graph.ingest(rollouts, run_id=recorder.run_id, also_write=record)
    return results[0]
