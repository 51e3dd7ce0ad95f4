"""Step-wise generation: one model call per step, so a sample can be checked and stopped after each step.

Each call stops at ``"\\n"`` (the newline step delimiter). All calls of one
sample use the same seed. With llama.cpp the prompt of a call extends the
previous one, so the prefix cache evaluates only the new step's tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tater_graph.answers import answers_match, extract_answer
from tater_graph.errors import ModelError
from tater_graph.model.base import GenerationRequest, ModelBackend
from tater_graph.prompts import STOP, build_prompt, default_shots, format_solution
from tater_graph.records import Problem, Rollout
from tater_graph.search.common import SearchConfig, rollout_seed
from tater_graph.search.recycling import Ledger, is_final_step

logger = logging.getLogger(__name__)

STEP_STOP = ("\n",) + STOP
MAX_STEPS = 64
# Resample k of sample s draws the seed of sample s + k * RESAMPLE_STRIDE, which no first attempt uses.
RESAMPLE_STRIDE = 100_000

DeadEndCheck = Callable[[Sequence[str]], bool]


@dataclass(frozen=True)
class StepGeneration:
    """One generated step: its text (empty when the solution ended) and what it cost."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str


def generate_step(model: ModelBackend, problem: Problem, config: SearchConfig, steps: Sequence[str],
                  hints: Sequence[str], seed: int, max_tokens: int) -> StepGeneration:
    """Generate the next step after ``steps``; raises :class:`ModelError` as the backend does."""
    shots = default_shots(config.shots) if config.shots else ()
    prompt = build_prompt(problem.question, shots, steps, hints)
    request = GenerationRequest(prompt, max_tokens, config.temperature, config.top_p, seed, STEP_STOP)
    generation = model.generate(request)
    evaluated = generation.prompt_tokens_evaluated
    return StepGeneration(generation.text.strip(), generation.prompt_tokens if evaluated is None else evaluated,
                          generation.generated_tokens, generation.finish_reason)


def sample_stepwise(model: ModelBackend, problem: Problem, config: SearchConfig, seed: int,
                    prefix: Sequence[str] = (), hints: Sequence[str] = (),
                    dead_end: DeadEndCheck | None = None, reused_tokens: int = 0) -> tuple[Rollout, int, bool]:
    """Generate one rollout step by step after ``prefix``.

    Returns:
        The rollout, the number of model calls, and whether it stopped at a
        dead end (its steps then end with the dead-end step and it has no answer).
    """
    started = time.perf_counter()
    steps = list(prefix)
    prompt_tokens = generated = calls = 0
    hit_dead_end = False
    error = None
    while calls < MAX_STEPS and generated < config.max_tokens:
        try:
            step = generate_step(model, problem, config, steps, hints, seed, config.max_tokens - generated)
        except ModelError as failure:
            logger.warning("step %d of problem %r failed: %s", len(steps) + 1, problem.question[:40], failure)
            error = str(failure)
            break
        calls += 1
        prompt_tokens += step.prompt_tokens
        generated += step.generated_tokens
        if not step.text:
            break
        steps.append(step.text)
        if dead_end is not None and dead_end(steps):
            hit_dead_end = True
            break
        if is_final_step(step.text) or step.finish_reason == "length":
            break

    rollout = _rollout(problem, config, tuple(steps), len(prefix), seed, hit_dead_end, error, model.name)
    rollout = _with_costs(rollout, prompt_tokens, generated, reused_tokens, time.perf_counter() - started)
    return rollout, calls, hit_dead_end


def sample_avoiding_dead_ends(model: ModelBackend, problem: Problem, config: SearchConfig, sample: int,
                              dead_end: DeadEndCheck, max_resamples: int, ledger: Ledger,
                              prefix: Sequence[str] = (), hints: Sequence[str] = (),
                              reused_tokens: int = 0) -> Rollout:
    """Generate sample ``sample``, resampling while it runs into a known dead end.

    Every attempt's tokens go to ``ledger``; abandoned attempts are not
    returned. The last attempt runs unchecked, so the sample ends with an answer
    whenever the model gives one.
    """
    for attempt in range(max_resamples + 1):
        seed = rollout_seed(config.seed, problem.question, sample + attempt * RESAMPLE_STRIDE)
        last = attempt == max_resamples
        rollout, calls, hit = sample_stepwise(model, problem, config, seed, prefix, hints,
                                              None if last else dead_end, reused_tokens)
        ledger.add_rollout(rollout, calls)
        if not hit:
            return rollout
        ledger.resamples += 1
        logger.debug("sample %d hit a dead end at step %d: resampling", sample, len(rollout.steps))
    return rollout


def _rollout(problem: Problem, config: SearchConfig, steps: tuple[str, ...], prefix_length: int, seed: int,
             hit_dead_end: bool, error: str | None, generator: str) -> Rollout:
    new_steps = steps[prefix_length:]
    answer = None if hit_dead_end or not steps else extract_answer("\n".join(steps), config.answer_format)
    if not new_steps and error is None:
        error = "empty generation"
    text = format_solution(new_steps).rstrip("\n") or None
    return Rollout(problem, steps if new_steps else (), answer, answers_match(answer, problem.gold_answer),
                   source="search", generator=generator, seed=seed, text=text, error=error)


def _with_costs(rollout: Rollout, prompt_tokens: int, generated: int, reused: int, wall_seconds: float) -> Rollout:
    return replace(rollout, prompt_tokens=prompt_tokens, generated_tokens=generated, reused_tokens=reused,
                   wall_seconds=wall_seconds)
