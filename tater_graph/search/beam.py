"""Step-level beam search: expand each beam by a few next steps, score them, keep the best.

One depth of the search is four functions. :func:`expand` proposes
candidate steps: stored ones from the planner first when prefix reuse is
on, then generated ones. :func:`score` scores each candidate with a step
scorer. :func:`prune` keeps the ``width`` best unfinished beams and sets
aside finished ones, and :func:`finish` votes over the finished beams. A
beam finishes when its latest step states an answer, when the model ends
the solution, or at ``max_depth``.

Recycling modes (see :mod:`tater_graph.search.recycling`): ``reuse``
counts stored rollouts as finished beams, ``prefix`` takes the planner's
stored next steps of the exact state as candidates before generating,
``negative`` resamples a generated step that matches a known dead end,
``cross-problem`` puts hints in the prompt, and ``early-stop`` ends the
search once the vote over finished beams cannot change.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from functools import partial
from dataclasses import dataclass

from tater_graph.answers import answers_match, extract_answer, majority_vote
from tater_graph.errors import ConfigError, ModelError
from tater_graph.graph import StepGraph
from tater_graph.model.base import ModelBackend
from tater_graph.planner import Planner
from tater_graph.records import Problem, ProblemResult, Rollout, RunSummary
from tater_graph.scorers import StepScorer, get_scorer
from tater_graph.search.common import (ProgressCallback, RunRecorder, SearchConfig, commit_problem, rollout_seed,
                                       run_problems)
from tater_graph.search.recycling import BankContext, Ledger, RecyclingConfig, is_final_step, recall, vote_decided
from tater_graph.search.sampling import RESAMPLE_STRIDE, generate_step
from tater_graph.steps import normalize_step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BeamConfig:
    """Beam search settings.

    Attributes:
        width: unfinished beams kept after each depth, and finished beams wanted.
        expansions: candidate next steps per beam per depth.
        max_depth: the maximum number of steps in a beam.
        step_max_tokens: generation budget per step, in tokens.
        step_delimiter: the stop string that ends a generated step.
    """

    width: int = 4
    expansions: int = 2
    max_depth: int = 10
    step_max_tokens: int = 96
    step_delimiter: str = "\n"

    def __post_init__(self) -> None:
        for name in ("width", "expansions", "max_depth", "step_max_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"invalid beam {name} {getattr(self, name)}: it must be at least 1")
        if self.step_delimiter != "\n":
            # NOTE: prompts put one step a line, so only the newline delimiter is supported.
            raise ConfigError(f"invalid step delimiter {self.step_delimiter!r}: only '\\n' is supported")


@dataclass(frozen=True)
class Beam:
    """A partial solution: its steps and the score of each."""

    steps: tuple[str, ...] = ()
    step_scores: tuple[float, ...] = ()
    finished: bool = False
    answer: str | None = None

    @property
    def score(self) -> float:
        """The mean step score (0 for the empty beam)."""
        return sum(self.step_scores) / len(self.step_scores) if self.step_scores else 0.0


@dataclass(frozen=True)
class Candidate:
    """A proposed next step of ``parent``; an empty ``step`` means the solution ended."""

    parent: Beam
    step: str
    from_bank: bool = False


@dataclass
class _Search:
    """The model, settings, bank context and ledger of one problem's search."""

    model: ModelBackend
    problem: Problem
    config: SearchConfig
    beam: BeamConfig
    recycling: RecyclingConfig
    planner: Planner | None
    scorer: StepScorer
    bank: BankContext
    ledger: Ledger


def beam_search(graph: StepGraph, model: ModelBackend, problems: Sequence[Problem],
                config: SearchConfig = SearchConfig(), *, beam: BeamConfig = BeamConfig(),
                scorer: StepScorer | None = None, recycling: RecyclingConfig = RecyclingConfig(),
                planner: Planner | None = None, dataset: str | None = None,
                progress: ProgressCallback | None = None) -> RunSummary:
    """Run step-level beam search on ``problems`` and store every finished beam as a rollout.

    Args:
        scorer: a step scorer (``score(question, prior_steps, step) -> float``);
            default: the arithmetic checker.
        planner: a :class:`tater_graph.planner.Planner`; made when needed and not given.
    """
    scorer = scorer if scorer is not None else get_scorer("arithmetic")
    needs_planner = recycling.needs_planner
    planner = planner if planner is not None or not needs_planner else Planner(graph)
    settings = {"beam": beam.__dict__, "recycling": recycling.to_dict(), "scorer": getattr(scorer, "name", None)}
    recorder = RunRecorder(graph, "beam", dataset, model.name, _merge_json(config.to_json(), settings))
    solve = partial(_solve, graph, model, config=config, beam=beam, recycling=recycling, planner=planner,
                    scorer=scorer, recorder=recorder)
    return run_problems(recorder, problems, solve, planner, progress)


def _solve(graph: StepGraph, model: ModelBackend, problem: Problem, config: SearchConfig, beam: BeamConfig,
           recycling: RecyclingConfig, planner: Planner | None, scorer: StepScorer,
           recorder: RunRecorder) -> ProblemResult:
    started = time.perf_counter()
    ledger = Ledger()
    bank = recall(graph, planner, model, problem, recycling, beam.width)
    ledger.reused_rollouts = len(bank.stored)
    ledger.reused_tokens = sum(stored.tokens for stored in bank.stored)
    search = _Search(model, problem, config, beam, recycling, planner, scorer, bank, ledger)

    finished = run_beams(search, wanted=beam.width - len(bank.stored))
    answers = [b.answer for b in finished] + [stored.answer for stored in bank.stored]
    answer = finish(answers)

    def build(problem_id: int) -> ProblemResult:
        return ledger.to_result(problem_id, problem, answer, len(answers), time.perf_counter() - started)

    return commit_problem(graph, recorder, _rollouts(search, finished), bank.problem_id, build)


def run_beams(search: _Search, wanted: int) -> list[Beam]:
    """Search until ``wanted`` beams finish, none is left, or the vote is decided; best first."""
    if wanted <= 0:
        return []
    active = [Beam()]
    finished: list[Beam] = []
    for depth in range(search.beam.max_depth):
        if search.recycling.early_stop and _decided(search, finished, wanted):
            search.ledger.early_stopped = True
            break
        candidates = expand(search, active)
        scored = score(search, candidates, last_depth=depth + 1 == search.beam.max_depth)
        active, done = prune(scored, search.beam.width)
        finished.extend(done)
        if len(finished) >= wanted or not active:
            break
    finished.sort(key=lambda b: -b.score)
    return finished[:wanted]


def expand(search: _Search, beams: Sequence[Beam]) -> list[Candidate]:
    """Propose up to ``expansions`` distinct next steps for each beam."""
    candidates: list[Candidate] = []
    for beam in beams:
        seen: set[str] = set()
        for step in _bank_steps(search, beam):
            if normalize_step(step) not in seen:
                seen.add(normalize_step(step))
                candidates.append(Candidate(beam, step, from_bank=True))
                search.ledger.reused_tokens += search.model.count_tokens(step + "\n")
        for expansion in range(len(seen), search.beam.expansions):
            step = _generate(search, beam, expansion)
            if step is None or normalize_step(step) in seen:
                continue
            seen.add(normalize_step(step))
            candidates.append(Candidate(beam, step))
    return candidates


def score(search: _Search, candidates: Sequence[Candidate], last_depth: bool) -> list[Beam]:
    """Return the beams the candidates make, each new step scored by the scorer."""
    beams = []
    for candidate in candidates:
        parent = candidate.parent
        if not candidate.step:
            beams.append(_finished(search, parent))
            continue
        value = float(search.scorer.score(search.problem.question, parent.steps, candidate.step))
        child = Beam(parent.steps + (candidate.step,), parent.step_scores + (value,))
        beams.append(_finished(search, child) if is_final_step(candidate.step) or last_depth else child)
    return beams


def prune(beams: Sequence[Beam], width: int) -> tuple[list[Beam], list[Beam]]:
    """Return the ``width`` best distinct unfinished beams, and the finished ones."""
    ranked = sorted(beams, key=lambda b: -b.score)  # stable: ties keep expansion order
    active: list[Beam] = []
    finished: list[Beam] = []
    seen: set[tuple[str, ...]] = set()
    for beam in ranked:
        key = tuple(sorted(normalize_step(s) for s in beam.steps))
        if key in seen:
            continue
        seen.add(key)
        if beam.finished:
            finished.append(beam)
        elif len(active) < width:
            active.append(beam)
    return active, finished


def finish(answers: Sequence[str | None]) -> str | None:
    """Return the majority answer; ties go to the first, so list the best-scored beams first."""
    return majority_vote(answers)


def _bank_steps(search: _Search, beam: Beam) -> list[str]:
    """Return stored next steps of the beam's exact state (approximate matches are not used)."""
    if not search.recycling.prefix_reuse or search.planner is None or search.bank.problem_id is None:
        return []
    result = search.planner.continuations(search.bank.problem_id, beam.steps, k=search.beam.expansions)
    if not result.exact:
        return []
    return [c.step_text for c in result.continuations]


def _generate(search: _Search, beam: Beam, expansion: int) -> str | None:
    """Generate one next step ("" when the solution ended), resampling known dead ends; None on failure."""
    state = search.problem.question + "\x1f" + "\n".join(beam.steps)
    attempts = search.recycling.max_resamples + 1 if search.recycling.negative else 1
    text = None
    for attempt in range(attempts):
        seed = rollout_seed(search.config.seed, state, expansion + attempt * RESAMPLE_STRIDE)
        try:
            step = generate_step(search.model, search.problem, search.config, beam.steps, search.bank.hints, seed,
                                 search.beam.step_max_tokens)
        except ModelError as error:
            logger.warning("a step of problem %r failed: %s", search.problem.question[:40], error)
            return None
        search.ledger.prompt_tokens += step.prompt_tokens
        search.ledger.generated_tokens += step.generated_tokens
        search.ledger.model_calls += 1
        text = step.text
        last = attempt == attempts - 1
        if last or not text or not search.recycling.negative or search.planner is None:
            return text
        if not search.planner.matches_dead_end(search.problem.question, beam.steps + (text,)):
            return text
        search.ledger.resamples += 1
    return text


def _finished(search: _Search, beam: Beam) -> Beam:
    answer = extract_answer("\n".join(beam.steps), search.config.answer_format) if beam.steps else None
    return Beam(beam.steps, beam.step_scores, finished=True, answer=answer)


def _decided(search: _Search, finished: Sequence[Beam], wanted: int) -> bool:
    stored = [s.answer for s in search.bank.stored]
    return vote_decided([b.answer for b in finished] + stored, wanted - len(finished))


def _rollouts(search: _Search, finished: Sequence[Beam]) -> list[Rollout]:
    """Return the finished beams as rollouts, or one failed rollout when none finished on a new problem."""
    problem = search.problem
    rollouts = [
        Rollout(problem, beam.steps, beam.answer, answers_match(beam.answer, problem.gold_answer), source="beam",
                generator=search.model.name, text="\n".join(beam.steps), score=beam.score)
        for beam in finished if beam.steps
    ]
    if not rollouts and search.bank.problem_id is None:
        rollouts.append(Rollout(problem, (), source="beam", generator=search.model.name, error="no beam finished"))
    return rollouts


def _merge_json(config_json: str, settings: dict) -> str:
    merged = json.loads(config_json)
    merged.update(settings)
    return json.dumps(merged, sort_keys=True, default=str)
