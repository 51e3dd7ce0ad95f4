"""Realistic rollout workloads for the engine benchmark, built from the bundled real rollouts.

Every step text comes from a real solution: ProcessBench rollouts of 12 open
models (GSM8K and MATH problems) and the GSM8K train reference solutions.
A synthetic problem takes one real question with its numbers varied, and
gets several rollouts that behave like samples of one model:

- the first follows the real solution, a few numbers varied;
- each later one copies a prefix of an earlier rollout of the same problem
  (so they merge into shared nodes), then continues with the real solution's
  remaining steps, numbers varied, or with steps of another real solution of
  the same source (a wrong turn);
- now and then two steps are swapped (a transposition reaching a known state)
  or a whole earlier rollout is repeated (revisits and no new node).

The generator counts distinct states independently of the writer (a sorted
tuple of normalized steps per prefix), so it can stop at a target node count.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from tater_graph.datasets import gsm8k_solution_steps, read_records
from tater_graph.records import Problem, Rollout
from tater_graph.steps import normalize_step

_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")


@dataclass(frozen=True)
class Solution:
    """One real solution: its question and its steps, in order."""

    source: str
    question: str
    steps: tuple[str, ...]


def load_solutions() -> list[Solution]:
    """Return the real solutions bundled with tater-graph (ProcessBench and GSM8K train)."""
    solutions = []
    for name in ("processbench_gsm8k", "processbench_math"):
        raw = (resources.files("tater_graph") / "data" / f"{name}.json.gz").read_bytes()
        for record in json.loads(gzip.decompress(raw)):
            steps = tuple(step.strip() for step in record["steps"] if step.strip())
            if steps:
                solutions.append(Solution(name, record["problem"], steps))
    for record in read_records("gsm8k_train.jsonl.gz"):
        steps = tuple(gsm8k_solution_steps(record["answer"]))
        if steps:
            solutions.append(Solution("gsm8k_train", record["question"], steps))
    return solutions


def vary_numbers(text: str, rng: random.Random, probability: float) -> str:
    """Replace each integer or decimal in ``text`` by a nearby one with ``probability``."""

    def replace(match: re.Match[str]) -> str:
        if rng.random() >= probability:
            return match.group(0)
        literal = match.group(0)
        if "." in literal:
            return f"{float(literal) * rng.uniform(0.5, 1.5):.2f}"
        return str(max(0, int(literal) + rng.randint(-9, 9) * max(1, int(literal) // 10)))

    return _NUMBER.sub(replace, text)


class Workload:
    """Deterministic stream of rollouts with about ``target_nodes`` distinct step nodes.

    Args:
        target_nodes: stop once the rollouts reach this many step nodes
            (roots not counted).
        rollouts_per_problem: samples per problem, as in best-of-N search.
        seed: makes the stream reproducible.
    """

    def __init__(self, solutions: list[Solution], target_nodes: int, rollouts_per_problem: int = 8, seed: int = 7):
        self.solutions = solutions
        self.target_nodes = target_nodes
        self.rollouts_per_problem = rollouts_per_problem
        self.rng = random.Random(seed)
        self.by_source: dict[str, list[Solution]] = {}
        for solution in solutions:
            self.by_source.setdefault(solution.source, []).append(solution)
        self.node_count = 0
        self.edge_count = 0
        self.problem_count = 0

    def problems(self) -> Iterator[list[Rollout]]:
        """Yield the rollouts of one problem at a time until the node target is reached."""
        questions: set[str] = set()
        while self.node_count < self.target_nodes:
            base = self.rng.choice(self.solutions)
            question = vary_numbers(base.question, self.rng, 0.7)
            if question in questions:
                question = f"{question} (variant {self.problem_count})"
            questions.add(question)
            problem = Problem(question, None, base.source, f"bench-{self.problem_count}")
            self.problem_count += 1
            yield self._rollouts(problem, base)

    def _rollouts(self, problem: Problem, base: Solution) -> list[Rollout]:
        rng = self.rng
        paths: list[list[str]] = []
        states: set[tuple[str, ...]] = set()
        edges: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
        rollouts = []
        for number in range(self.rollouts_per_problem):
            if paths and rng.random() < 0.1:
                steps = list(rng.choice(paths))
            elif not paths:
                steps = [vary_numbers(step, rng, 0.2) for step in base.steps]
            else:
                steps = self._branch(rng.choice(paths), base)
            paths.append(steps)
            self._count(steps, states, edges)
            correct = rng.random() < 0.6
            rollouts.append(Rollout(problem, tuple(steps), answer=str(rng.randint(0, 99)), is_correct=correct,
                                    source="bench", seed=number))
        return rollouts

    def _branch(self, earlier: list[str], base: Solution) -> list[str]:
        rng = self.rng
        cut = rng.randint(0, len(earlier) - 1)
        steps = list(earlier[:cut])
        if rng.random() < 0.3:
            other = rng.choice(self.by_source[base.source])
            tail = other.steps[min(cut, len(other.steps) - 1):]
        else:
            tail = base.steps[cut:] or base.steps[-1:]
        steps.extend(vary_numbers(step, rng, 0.5) for step in tail)
        if len(steps) >= 3 and rng.random() < 0.1:
            i = rng.randrange(len(steps) - 1)
            steps[i], steps[i + 1] = steps[i + 1], steps[i]
        return steps

    def _count(self, steps: list[str], states: set, edges: set) -> None:
        norms = [normalize_step(step) for step in steps]
        parent: tuple[str, ...] = ()
        for depth in range(1, len(norms) + 1):
            state = tuple(sorted(norms[:depth]))
            if state not in states:
                states.add(state)
                self.node_count += 1
            if (parent, state) not in edges:
                edges.add((parent, state))
                self.edge_count += 1
            parent = state
