"""A writer process for the crash tests: ingests or searches until killed.

Usage: python crash_writer.py {ingest|search} DB SEED

It prints ``ready`` once the graph is open and the embedder loaded, and ``committed N`` after every
write that returned (N rollouts), so the test can check that each reported
commit survives the kill.
"""

from __future__ import annotations

import random
import sys

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.model.fake import FakeModel
from tater_graph.search import SearchConfig, best_of_n
from tater_graph.search.common import rollout_seed

PROBLEMS = [Problem(f"Problem {i}: what is {i} plus {i + 1}?", str(2 * i + 1), "crash", f"c-{i}") for i in range(40)]
WORDS = ["add", "carry", "the", "sum", "is", "so", "then", "we", "get", "half", "double", "subtract"]


def random_steps(rng: random.Random) -> tuple[str, ...]:
    # A small vocabulary makes rollouts share steps, so nodes merge and counts grow.
    return tuple(" ".join(rng.choices(WORDS, k=rng.randint(1, 3))) + f" {rng.randint(0, 3)}"
                 for _ in range(rng.randint(1, 6)))


def ingest_forever(graph: StepGraph, rng: random.Random) -> None:
    while True:
        batch = []
        for _ in range(rng.randint(1, 30)):
            problem = rng.choice(PROBLEMS)
            steps = random_steps(rng)
            answer = str(rng.randint(0, 80))
            correct = rng.choice([True, False, None])
            batch.append(Rollout(problem, steps + (f"#### {answer}",), answer, correct))
        if rng.random() < 0.1:
            batch.append(Rollout(rng.choice(PROBLEMS), (), error="model timed out"))
        result = graph.ingest(batch)
        print("committed", result.rollouts, flush=True)
        if rng.random() < 0.2:
            graph.flush()


def search_forever(graph: StepGraph, rng: random.Random) -> None:
    def solution(question: str, seed: int) -> str:
        local = random.Random(seed)
        return "\n".join(random_steps(local)) + f"\n#### {local.randint(0, 80)}"

    while True:
        config = SearchConfig(n=rng.randint(1, 6), shots=0, seed=rng.randint(0, 10**6))
        problems = rng.sample(PROBLEMS, rng.randint(1, 5))
        # About one sample in five fails, so runs hold error rollouts too.
        failing = frozenset(rollout_seed(config.seed, p.question, sample) for p in problems
                            for sample in range(config.n) if rng.random() < 0.2)
        model = FakeModel(solution, fail_on=failing)
        best_of_n(graph, model, problems, config,
                  progress=lambda done, total, result: print("committed", result.n_rollouts, flush=True))


def main() -> None:
    mode, path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    with StepGraph.open(path, embedder="hashed") as graph:
        graph.embed(["load the embedder before reporting ready"])
        print("ready", flush=True)
        if mode == "ingest":
            ingest_forever(graph, rng)
        else:
            search_forever(graph, rng)


if __name__ == "__main__":
    main()
