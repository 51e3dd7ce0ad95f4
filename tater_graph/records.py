"""Frozen records passed between the layers. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """A problem to solve. ``source_id`` is the id in its dataset, if any."""

    question: str
    gold_answer: str | None = None
    dataset: str = "custom"
    source_id: str | None = None


@dataclass(frozen=True)
class Rollout:
    """One sampled or recorded solution, already split into steps.

    ``is_correct`` is None when no grade is known. ``answer`` is the extracted
    final answer, or None when none could be parsed.
    """

    problem: Problem
    steps: tuple[str, ...]
    answer: str | None = None
    is_correct: bool | None = None
    source: str = "search"
    generator: str | None = None
    seed: int | None = None
    text: str | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    reused_tokens: int = 0
    wall_seconds: float = 0.0
    score: float | None = None
    error: str | None = None
    step_labels: tuple[int | None, ...] | None = None


@dataclass(frozen=True)
class Generation:
    """The result of one model call. Token counts are exact, from the tokenizer."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str = "stop"
    wall_seconds: float = 0.0
    prompt_tokens_evaluated: int | None = None


@dataclass(frozen=True)
class IngestResult:
    """Counts from one committed ingest."""

    problems: int
    rollouts: int
    new_nodes: int
    new_edges: int
    rollout_ids: tuple[int, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class ProblemResult:
    """The outcome and compute ledger of searching one problem.

    ``prompt_tokens`` counts prompt tokens the model evaluated;
    ``reused_tokens`` counts tokens taken from the bank instead of generated;
    ``reused_rollouts`` counts stored rollouts that served as samples;
    ``resamples`` counts attempts abandoned at a known dead end.
    """

    problem_id: int
    answer: str | None
    gold_answer: str | None
    is_correct: bool | None
    n_rollouts: int
    prompt_tokens: int
    generated_tokens: int
    reused_tokens: int
    model_calls: int
    wall_seconds: float
    reused_rollouts: int = 0
    resamples: int = 0
    early_stopped: bool = False


@dataclass(frozen=True)
class RunSummary:
    """The ledger of one search run."""

    run_id: int
    n_problems: int
    n_correct: int
    accuracy: float
    prompt_tokens: int
    generated_tokens: int
    reused_tokens: int
    model_calls: int
    wall_seconds: float
    problems: tuple[ProblemResult, ...] = ()

    @property
    def generated_tokens_per_problem(self) -> float:
        return self.generated_tokens / self.n_problems if self.n_problems else 0.0
