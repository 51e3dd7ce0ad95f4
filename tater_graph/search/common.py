"""Configuration, seeding, sampling and run bookkeeping shared by search strategies."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from tater_graph.answers import ANSWER_FORMATS, answers_match, extract_answer
from tater_graph.errors import ConfigError, ModelError
from tater_graph.graph import StepGraph
from tater_graph.model.base import GenerationRequest, ModelBackend
from tater_graph.prompts import STOP, build_prompt, default_shots
from tater_graph.records import IngestResult, Problem, ProblemResult, Rollout, RunSummary
from tater_graph.steps import SplitConfig, split_steps

if TYPE_CHECKING:
    from tater_graph.planner import Planner

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, ProblemResult], None]


@dataclass(frozen=True)
class SearchConfig:
    """Settings shared by every search strategy.

    Attributes:
        n: rollouts sampled per problem.
        max_tokens: generation budget per rollout, in tokens.
        temperature, top_p: sampling settings.
        seed: base seed; each rollout's seed derives from it, the problem and the sample number.
        shots: number of few-shot examples in the prompt.
        answer_format: ``"gsm8k"`` or ``"math"``.
        split: how generated text is split into steps.
    """

    n: int = 8
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    shots: int = 4
    answer_format: str = "gsm8k"
    split: SplitConfig = SplitConfig(delimiter="newline")

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"invalid n {self.n}: sample at least 1 rollout per problem")
        if self.max_tokens < 1:
            raise ConfigError(f"invalid max_tokens {self.max_tokens}: it must be at least 1")
        if self.answer_format not in ANSWER_FORMATS:
            raise ConfigError(f"invalid answer format {self.answer_format!r}: use one of {', '.join(ANSWER_FORMATS)}")
        if self.shots < 0:
            raise ConfigError(f"invalid shots {self.shots}: it must be 0 or more")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def rollout_seed(base_seed: int, question: str, sample: int) -> int:
    """Return the seed of one sample: fixed by the base seed, the question and the sample number,
    so a problem gets the same samples whatever its position in the run."""
    digest = hashlib.blake2b(f"{base_seed}\x1f{question}\x1f{sample}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def sample_rollout(model: ModelBackend, problem: Problem, config: SearchConfig, sample: int,
                   prefix_steps: Sequence[str] = (), hints: Sequence[str] = (), source: str = "search") -> Rollout:
    """Generate one rollout; a model failure is recorded on the rollout, not raised."""
    seed = rollout_seed(config.seed, problem.question, sample)
    prompt = build_prompt(problem.question, default_shots(config.shots) if config.shots else (), prefix_steps, hints)
    request = GenerationRequest(prompt, config.max_tokens, config.temperature, config.top_p, seed, STOP)
    started = time.perf_counter()
    try:
        generation = model.generate(request)
    except ModelError as error:
        logger.warning("sample %d of problem %r failed: %s", sample, problem.source_id or problem.question[:40], error)
        return Rollout(problem, (), source=source, generator=model.name, seed=seed,
                       wall_seconds=time.perf_counter() - started, error=str(error))

    new_steps = split_steps(generation.text, config.split)
    steps = tuple(prefix_steps) + tuple(new_steps)
    full_text = "\n".join(steps)
    answer = extract_answer(full_text, config.answer_format) if steps else None
    error = None if steps else "empty generation"
    evaluated = generation.prompt_tokens_evaluated
    return Rollout(
        problem=problem, steps=steps, answer=answer, is_correct=answers_match(answer, problem.gold_answer),
        source=source, generator=model.name, seed=seed, text=generation.text,
        prompt_tokens=generation.prompt_tokens if evaluated is None else evaluated,
        generated_tokens=generation.generated_tokens, wall_seconds=generation.wall_seconds, error=error,
    )


class RunRecorder:
    """Creates the run row, records each problem's ledger, and closes the run."""

    def __init__(self, graph: StepGraph, strategy: str, dataset: str | None, model_name: str, config_json: str):
        self.strategy = strategy
        self.graph = graph
        self.started = time.perf_counter()
        self.results: list[ProblemResult] = []
        db = graph.db
        with db.transaction() as con:
            self.run_id = db.next_id("runs", "run_id")
            con.execute(
                "INSERT INTO runs (run_id, namespace, strategy, dataset, model, config) VALUES (?, ?, ?, ?, ?, ?)",
                [self.run_id, graph.namespace, strategy, dataset, model_name, config_json],
            )

    def record(self, result: ProblemResult) -> None:
        """Insert the problem's ledger row in its own statement and add it to the run."""
        self.insert_row(self.graph.db.con, result)
        self.results.append(result)

    def insert_row(self, con: duckdb.DuckDBPyConnection, result: ProblemResult) -> None:
        """Insert the problem's ledger row on ``con`` (inside a caller's transaction).

        The caller adds ``result`` to :attr:`results` once that transaction commits.
        """
        con.execute(
            "INSERT INTO run_problems VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self.run_id, result.problem_id, result.answer, result.is_correct, result.n_rollouts,
             result.prompt_tokens, result.generated_tokens, result.reused_tokens, result.model_calls,
             result.wall_seconds],
        )

    def finish(self, status: str = "finished") -> RunSummary:
        results = self.results
        n_correct = sum(1 for r in results if r.is_correct)
        graded = [r for r in results if r.is_correct is not None]
        summary = RunSummary(
            run_id=self.run_id, n_problems=len(results), n_correct=n_correct,
            accuracy=n_correct / len(graded) if graded else 0.0,
            prompt_tokens=sum(r.prompt_tokens for r in results),
            generated_tokens=sum(r.generated_tokens for r in results),
            reused_tokens=sum(r.reused_tokens for r in results),
            model_calls=sum(r.model_calls for r in results),
            wall_seconds=time.perf_counter() - self.started, problems=tuple(results),
        )
        self.graph.db.con.execute(
            "UPDATE runs SET status = ?, finished_at = current_timestamp, n_problems = ?, n_correct = ?, "
            "accuracy = ?, prompt_tokens = ?, generated_tokens = ?, reused_tokens = ?, model_calls = ?, "
            "wall_seconds = ? WHERE run_id = ?",
            [status, summary.n_problems, summary.n_correct, summary.accuracy if graded else None,
             summary.prompt_tokens, summary.generated_tokens, summary.reused_tokens, summary.model_calls,
             summary.wall_seconds, self.run_id],
        )
        self.graph.flush()
        return summary


def commit_problem(graph: StepGraph, recorder: RunRecorder, rollouts: Sequence[Rollout], known_problem_id: int | None,
                   build: Callable[[int], ProblemResult]) -> ProblemResult:
    """Write a problem's new rollouts and its ledger row in one transaction, then add the result to the run.

    ``build`` makes the result from the problem id. With no new rollouts
    (every sample came from the bank) only the ledger row is written, under
    ``known_problem_id``.
    """
    if not rollouts:
        if known_problem_id is None:
            raise ValueError("a problem without new rollouts must already be stored")
        result = build(known_problem_id)
        recorder.record(result)
        return result

    results: list[ProblemResult] = []

    def record(con: duckdb.DuckDBPyConnection, written: IngestResult) -> None:
        problem_id = con.execute("SELECT problem_id FROM rollouts WHERE rollout_id = ?",
                                 [written.rollout_ids[0]]).fetchall()[0][0]
        results.append(build(problem_id))
        recorder.insert_row(con, results[0])

    graph.ingest(rollouts, run_id=recorder.run_id, also_write=record)
    recorder.results.append(results[0])
    if rollouts[0].problem.gold_answer is None:
        # No gold answer: back up agreement with the final vote as the outcome. It is
        # recomputed from all stored rollouts, so a crash before this line loses nothing.
        from tater_graph.backup import backup_vote

        backup_vote(graph, results[0].problem_id, results[0].answer)
    return results[0]


def run_problems(recorder: RunRecorder, problems: Sequence[Problem], solve: Callable[[Problem], ProblemResult],
                 planner: Planner | None, progress: ProgressCallback | None) -> RunSummary:
    """Solve each problem in order and close the run, whatever stops the loop.

    The run ends ``finished``, ``interrupted`` (Ctrl-C or SIGTERM) or
    ``failed`` (any other exception, which propagates). The planner's
    buffered last-use times are written before the run is closed.
    """
    status = "failed"
    try:
        for number, problem in enumerate(problems, start=1):
            result = solve(problem)
            if progress is not None:
                progress(number, len(problems), result)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if planner is not None:
            planner.flush()
        summary = recorder.finish(status)
        logger.info("%s run %d %s: %d/%d correct, %d tokens generated, %d reused", recorder.strategy,
                    summary.run_id, status, summary.n_correct, summary.n_problems, summary.generated_tokens,
                    summary.reused_tokens)
    return summary

