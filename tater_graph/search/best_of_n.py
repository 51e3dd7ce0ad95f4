"""Best-of-N: sample N rollouts per problem, store them all, answer by majority vote.

With recycling modes on (see :mod:`tater_graph.search.recycling`), stored
rollouts count toward N, samples start from stored prefixes, avoid dead
ends, see hints from similar problems, or stop once the vote is decided.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from functools import partial
from dataclasses import replace

from tater_graph.answers import majority_vote
from tater_graph.graph import StepGraph
from tater_graph.model.base import ModelBackend
from tater_graph.planner import Planner
from tater_graph.prompts import format_solution
from tater_graph.records import Problem, ProblemResult, Rollout, RunSummary
from tater_graph.search.common import (ProgressCallback, RunRecorder, SearchConfig, commit_problem, run_problems,
                                       sample_rollout)
from tater_graph.search.recycling import BankContext, Ledger, RecyclingConfig, recall, vote_decided
from tater_graph.search.sampling import sample_avoiding_dead_ends

logger = logging.getLogger(__name__)


def best_of_n(graph: StepGraph, model: ModelBackend, problems: Sequence[Problem], config: SearchConfig = SearchConfig(),
              *, recycling: RecyclingConfig = RecyclingConfig(), planner: Planner | None = None,
              dataset: str | None = None, progress: ProgressCallback | None = None) -> RunSummary:
    """Run best-of-N on ``problems`` and record everything in ``graph``.

    Each problem's new rollouts and its ledger row are written in one
    transaction after they are all sampled, so an interrupted run leaves
    whole problems only. The
    answer is the majority vote (weighted by rollout score when every
    rollout has one).

    Args:
        planner: a :class:`tater_graph.planner.Planner` on ``graph``; made
            when a mode needs one and none is given.
    """
    planner = planner if planner is not None or not recycling.needs_planner else Planner(graph)
    recorder = RunRecorder(graph, "best-of-n", dataset, model.name, _config_json(config, recycling))
    solve = partial(_solve, graph, model, config=config, recycling=recycling, planner=planner, recorder=recorder)
    return run_problems(recorder, problems, solve, planner, progress)


def _solve(graph: StepGraph, model: ModelBackend, problem: Problem, config: SearchConfig,
           recycling: RecyclingConfig, planner: Planner | None, recorder: RunRecorder) -> ProblemResult:
    started = time.perf_counter()
    ledger = Ledger()
    bank = recall(graph, planner, model, problem, recycling, config.n)
    answers: list[str | None] = [stored.answer for stored in bank.stored]
    ledger.reused_rollouts = len(bank.stored)
    ledger.reused_tokens = sum(stored.tokens for stored in bank.stored)

    rollouts: list[Rollout] = []
    for sample in range(len(answers), config.n):
        if recycling.early_stop and vote_decided(answers, config.n - sample):
            ledger.early_stopped = True
            break
        rollout = _sample(model, problem, config, recycling, planner, bank, sample, ledger)
        rollouts.append(rollout)
        answers.append(rollout.answer)

    answer = majority_vote(answers, _weights(rollouts) if not bank.stored else None)

    def build(problem_id: int) -> ProblemResult:
        return ledger.to_result(problem_id, problem, answer, len(answers), time.perf_counter() - started)

    return commit_problem(graph, recorder, rollouts, bank.problem_id, build)


def _sample(model: ModelBackend, problem: Problem, config: SearchConfig, recycling: RecyclingConfig,
            planner: Planner | None, bank: BankContext, sample: int, ledger: Ledger) -> Rollout:
    """Generate sample number ``sample`` with the enabled modes and add its cost to ``ledger``."""
    prefix = bank.prefix
    reused = model.count_tokens(format_solution(prefix)) if prefix else 0
    if recycling.negative and planner is not None:
        def dead_end(steps: Sequence[str]) -> bool:
            return planner.matches_dead_end(problem.question, steps)

        return sample_avoiding_dead_ends(model, problem, config, sample, dead_end, recycling.max_resamples,
                                         ledger, prefix, bank.hints, reused)

    rollout = sample_rollout(model, problem, config, sample, prefix, bank.hints)
    rollout = replace(rollout, reused_tokens=reused)
    ledger.add_rollout(rollout)
    return rollout


def _weights(rollouts: Sequence[Rollout]) -> list[float] | None:
    scores = [r.score for r in rollouts]
    return scores if scores and all(s is not None for s in scores) else None


def _config_json(config: SearchConfig, recycling: RecyclingConfig) -> str:
    settings = json.loads(config.to_json())
    settings["recycling"] = recycling.to_dict()
    return json.dumps(settings, sort_keys=True)
