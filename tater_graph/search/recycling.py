"""Experience recycling: the switches, the compute ledger, and what each mode reads from the bank.

Modes, each a switch in :class:`RecyclingConfig`:

- ``reuse``: stored rollouts of a problem already in the bank count as
  samples, in rollout id order, and cost no generation.
- ``prefix``: new samples start from the best stored path of the problem
  (its high-value states, the final step left out) and generate only the
  continuation. The prefix's tokens count as reused.
- ``negative``: samples are generated one step at a time. A sample whose
  latest step matches a known dead end is abandoned and resampled with a
  new seed. The last allowed attempt runs to the end unchecked, so every
  sample still gives an answer.
- ``cross-problem``: verified steps of similar solved problems go into the
  prompt as hints.
- ``early-stop``: sampling stops once the remaining samples cannot change
  the majority vote.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tater_graph.answers import answer_key, answers_match
from tater_graph.errors import ConfigError
from tater_graph.graph import StepGraph
from tater_graph.model.base import ModelBackend
from tater_graph.planner import Planner
from tater_graph.records import Generation, Problem, ProblemResult, Rollout
from tater_graph.store.writer import question_hash

MODES = ("reuse", "prefix", "negative", "cross-problem", "early-stop")
_FIELDS = {"reuse": "reuse_stored", "prefix": "prefix_reuse", "negative": "negative",
           "cross-problem": "cross_problem", "early-stop": "early_stop"}


@dataclass(frozen=True)
class RecyclingConfig:
    """The recycling modes a search uses, and their settings.

    Attributes:
        reuse_stored, prefix_reuse, negative, cross_problem, early_stop: the mode switches.
        prefix_min_value: the lowest node value a reused prefix step may have.
        hint_problems: similar solved problems whose verified steps become hints.
        max_hints: the maximum number of hint steps in a prompt.
        hint_min_similarity: the lowest cosine similarity of a hint's problem to the question.
        max_resamples: new attempts per sample after hitting dead ends.
    """

    reuse_stored: bool = False
    prefix_reuse: bool = False
    negative: bool = False
    cross_problem: bool = False
    early_stop: bool = False
    prefix_min_value: float = 0.6
    hint_problems: int = 2
    max_hints: int = 6
    hint_min_similarity: float = 0.8
    max_resamples: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.prefix_min_value <= 1:
            raise ConfigError(f"invalid prefix_min_value {self.prefix_min_value}: it must be in [0, 1]")
        if not -1 <= self.hint_min_similarity <= 1:
            raise ConfigError(f"invalid hint_min_similarity {self.hint_min_similarity}: it must be in [-1, 1]")
        for name in ("hint_problems", "max_hints", "max_resamples"):
            if getattr(self, name) < 0:
                raise ConfigError(f"invalid {name} {getattr(self, name)}: it must be 0 or more")

    @classmethod
    def from_modes(cls, modes: Iterable[str], **settings: object) -> RecyclingConfig:
        """Return a config with the named modes on; ``"all"`` turns on every mode, ``"none"`` none.

        >>> RecyclingConfig.from_modes(["reuse", "early-stop"]).enabled
        ('reuse', 'early-stop')
        """
        switches = {}
        for mode in modes:
            if mode == "all":
                switches.update({field: True for field in _FIELDS.values()})
            elif mode in _FIELDS:
                switches[_FIELDS[mode]] = True
            elif mode != "none":
                raise ConfigError(f"unknown recycling mode {mode!r}: use all, none or one of {', '.join(MODES)}")
        return cls(**switches, **settings)

    @property
    def enabled(self) -> tuple[str, ...]:
        """The names of the modes that are on, in :data:`MODES` order."""
        return tuple(mode for mode in MODES if getattr(self, _FIELDS[mode]))

    @property
    def needs_planner(self) -> bool:
        return self.prefix_reuse or self.negative or self.cross_problem

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class Ledger:
    """The compute spent and saved on one problem.

    Attributes:
        prompt_tokens: prompt tokens the model evaluated (prefix-cache hits excluded).
        generated_tokens: tokens generated, including abandoned attempts.
        reused_tokens: tokens taken from the bank instead of generated.
        model_calls: generation calls.
        reused_rollouts: stored rollouts counted as samples.
        resamples: attempts abandoned at a dead end.
        early_stopped: whether sampling stopped before N because the vote was decided.
    """

    prompt_tokens: int = 0
    generated_tokens: int = 0
    reused_tokens: int = 0
    model_calls: int = 0
    reused_rollouts: int = 0
    resamples: int = 0
    early_stopped: bool = False

    def add_generation(self, generation: Generation) -> None:
        evaluated = generation.prompt_tokens_evaluated
        self.prompt_tokens += generation.prompt_tokens if evaluated is None else evaluated
        self.generated_tokens += generation.generated_tokens
        self.model_calls += 1

    def to_result(self, problem_id: int, problem: Problem, answer: str | None, n_rollouts: int,
                  wall_seconds: float) -> ProblemResult:
        """Return the problem's result with this ledger."""
        return ProblemResult(
            problem_id=problem_id, answer=answer, gold_answer=problem.gold_answer,
            is_correct=answers_match(answer, problem.gold_answer), n_rollouts=n_rollouts,
            prompt_tokens=self.prompt_tokens, generated_tokens=self.generated_tokens,
            reused_tokens=self.reused_tokens, model_calls=self.model_calls, wall_seconds=wall_seconds,
            reused_rollouts=self.reused_rollouts, resamples=self.resamples, early_stopped=self.early_stopped,
        )

    def add_rollout(self, rollout: Rollout, model_calls: int = 1) -> None:
        """Add a rollout's tokens (its ``reused_tokens`` included) and calls."""
        self.prompt_tokens += rollout.prompt_tokens
        self.generated_tokens += rollout.generated_tokens
        self.reused_tokens += rollout.reused_tokens
        self.model_calls += model_calls


@dataclass(frozen=True)
class StoredRollout:
    """A rollout already in the bank, reused as a sample."""

    rollout_id: int
    problem_id: int
    answer: str | None
    is_correct: bool | None
    tokens: int


@dataclass(frozen=True)
class BankContext:
    """The bank's offer for one problem, read before sampling starts."""

    problem_id: int | None = None
    stored: tuple[StoredRollout, ...] = ()
    prefix: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()


def recall(graph: StepGraph, planner: Planner | None, model: ModelBackend, problem: Problem,
           recycling: RecyclingConfig, limit: int) -> BankContext:
    """Return what the enabled modes take from the bank for ``problem``.

    Under a leakage guard (the planner's scope), a guarded problem's own
    stored rollouts and states are never reused.
    """
    problem_id = stored_problem_id(graph, problem.question)
    guard = planner.scope.guard if planner is not None else None
    if guard is not None and question_hash(problem.question) in guard.question_hashes:
        problem_id = None
    stored: tuple[StoredRollout, ...] = ()
    if recycling.reuse_stored and problem_id is not None:
        stored = stored_rollouts(graph, model, problem_id, limit)
    prefix: tuple[str, ...] = ()
    if recycling.prefix_reuse and planner is not None and problem_id is not None:
        prefix = bank_prefix(planner, problem_id, recycling.prefix_min_value)
    hints: tuple[str, ...] = ()
    if recycling.cross_problem and planner is not None:
        hints = bank_hints(planner, problem.question, problem_id, recycling)
    return BankContext(problem_id, stored, prefix, hints)


def stored_problem_id(graph: StepGraph, question: str) -> int | None:
    rows = graph.sql("SELECT problem_id FROM problems WHERE namespace = ? AND question_hash = ?",
                     [graph.namespace, question_hash(question)]).fetchall()
    return rows[0][0] if rows else None


def stored_rollouts(graph: StepGraph, model: ModelBackend, problem_id: int, limit: int) -> tuple[StoredRollout, ...]:
    """Return up to ``limit`` finished rollouts of a stored problem, oldest first.

    A rollout's reused tokens are its recorded ``generated_tokens``, or, for
    an ingested recording that has none, ``model.count_tokens`` of its steps.
    """
    rows = graph.sql(
        "SELECT r.rollout_id, r.answer, r.is_correct, r.generated_tokens, "
        "       (SELECT string_agg(s.step_text, chr(10) ORDER BY s.position) FROM rollout_steps s "
        "        WHERE s.rollout_id = r.rollout_id) AS text "
        "FROM rollouts r WHERE r.problem_id = ? AND r.error IS NULL AND r.n_steps > 0 "
        "ORDER BY r.rollout_id LIMIT ?",
        [problem_id, limit],
    ).fetchall()
    return tuple(StoredRollout(rollout_id, problem_id, answer, correct, tokens or model.count_tokens(text or ""))
                 for rollout_id, answer, correct, tokens, text in rows)


def bank_prefix(planner: Planner, problem_id: int, min_value: float) -> tuple[str, ...]:
    """Return the steps of the best stored path, up to the first below ``min_value``, final step excluded."""
    prefix = []
    for continuation in planner.best_path(problem_id):
        if continuation.is_terminal or continuation.value < min_value:
            break
        prefix.append(continuation.step_text)
    return tuple(prefix)


def bank_hints(planner: Planner, question: str, problem_id: int | None, recycling: RecyclingConfig) -> tuple[str, ...]:
    """Return verified steps of the most similar solved problems (the problem itself excluded)."""
    if recycling.hint_problems == 0 or recycling.max_hints == 0:
        return ()
    exclude = () if problem_id is None else (problem_id,)
    similar = planner.similar_problems(question, k=recycling.hint_problems, exclude_problem_ids=exclude,
                                       min_similarity=recycling.hint_min_similarity)
    hints: list[str] = []
    for found in similar:
        if found.solved:
            # Another problem's final answer would only mislead: keep the reasoning steps.
            hints.extend(step for step in found.verified_steps if not is_final_step(step))
    return tuple(hints[: recycling.max_hints])


def is_final_step(step: str) -> bool:
    """Return whether ``step`` states a final answer (``#### x`` or ``\\boxed{x}``)."""
    return "####" in step or "\\boxed" in step


def vote_decided(answers: Sequence[str | None], remaining: int) -> bool:
    """Return whether ``remaining`` more votes cannot change the majority winner.

    Unparsed answers (None) cast no vote. The leader must be ahead of the
    runner-up by more than ``remaining``, so not even a tie is possible.

    >>> vote_decided(["5", "5", "5", "6"], 1)
    True
    >>> vote_decided(["5", "5", "6"], 1)
    False
    """
    counts = Counter(key for key in map(answer_key, answers) if key is not None)
    if not counts:
        return False
    ranked = counts.most_common(2)
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    return ranked[0][1] - runner_up > remaining
