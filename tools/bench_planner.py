"""Measure planner read latency and the arithmetic checker on a bank built from GSM8K train.

The bank holds, per problem, the reference solution as a correct rollout and
three copies of a corrupted one (the first number after ``=`` in step 2
raised by 1) as failed rollouts, so every problem has a dead end.

    python tools/bench_planner.py --problems 2000 --queries 200
    python tools/bench_planner.py --problems 200 --queries 10 --self-eval 40

Prints Markdown tables. Latencies are medians and 95th percentiles over
``--queries`` calls on one thread, with the hashed embedder unless
``--embedder e5`` is given. ``--self-eval N`` also scores N pairs of a
reference step and its corrupted copy with the bundled model, and reports
how often each scorer ranks the reference step higher (pairwise AUC, ties
count half).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.arithmetic import check_claims
from tater_graph.datasets import gsm8k_solution_steps, read_records
from tater_graph.answers import gsm8k_gold
from tater_graph.planner import Planner
from tater_graph.scorers import ArithmeticScorer, SelfEvalScorer, StepScorer

_RESULT = re.compile(r"=\s*\$?(\d+)")


def corrupt(step: str) -> str | None:
    """Return the step with the first number after ``=`` raised by 1, or None when it has none."""
    match = _RESULT.search(step)
    if match is None:
        return None
    start, end = match.span(1)
    return step[:start] + str(int(match.group(1)) + 1) + step[end:]


def build_bank(graph: StepGraph, records: list[dict]) -> list[tuple[Problem, list[str], list[str]]]:
    cases = []
    rollouts = []
    for number, record in enumerate(records):
        problem = Problem(record["question"], gsm8k_gold(record["answer"]), "gsm8k-train", f"train-{number}")
        steps = gsm8k_solution_steps(record["answer"])
        rollouts.append(Rollout(problem, tuple(steps), problem.gold_answer, True))
        wrong = corrupt(steps[1]) if len(steps) > 2 else None
        if wrong is not None:
            bad = [steps[0], wrong, "#### 0"]
            rollouts.extend([Rollout(problem, tuple(bad), "0", False)] * 3)
            cases.append((problem, steps, bad))
    for start in range(0, len(rollouts), 2000):
        graph.ingest(rollouts[start:start + 2000])
    return cases


def timed(function, calls) -> tuple[list[float], list[object]]:
    seconds, results = [], []
    for args in calls:
        started = time.perf_counter()
        results.append(function(*args))
        seconds.append(time.perf_counter() - started)
    return seconds, results


def summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{statistics.median(ordered) * 1000:.1f} ms | {p95 * 1000:.1f} ms"


def pairwise_auc(scorer: StepScorer, pairs: list[tuple[Problem, list[str], list[str]]]) -> tuple[float, float]:
    """Return (AUC of the reference step over its corrupted copy, seconds per score)."""
    wins = 0.0
    started = time.perf_counter()
    for problem, steps, bad in pairs:
        right = scorer.score(problem.question, steps[:1], steps[1])
        wrong = scorer.score(problem.question, steps[:1], bad[1])
        if right > wrong:
            wins += 1.0
        elif right == wrong:
            wins += 0.5
    return wins / len(pairs), (time.perf_counter() - started) / (2 * len(pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=2000, help="GSM8K train problems in the bank")
    parser.add_argument("--queries", type=int, default=200, help="calls timed per operation")
    parser.add_argument("--embedder", default="hashed", choices=["hashed", "e5"])
    parser.add_argument("--self-eval", type=int, default=0, help="step pairs scored with the bundled model")
    parser.add_argument("--modes", default="judge,confidence", help="self-eval modes to score, comma-separated")
    args = parser.parse_args()

    records = read_records("gsm8k_train.jsonl.gz")[: args.problems]
    with tempfile.TemporaryDirectory() as folder:
        with StepGraph.open(Path(folder) / "bench.duckdb", embedder=args.embedder) as graph:
            started = time.perf_counter()
            cases = build_bank(graph, records)
            ingest_seconds = time.perf_counter() - started
            nodes = graph.sql("SELECT count(*) FROM nodes").fetchall()[0][0]
            planner = Planner(graph)
            queries = cases[: args.queries]

            exact, exact_results = timed(planner.continuations, [(p.question, s[:1]) for p, s, _ in queries])
            paraphrased = [(p.question, [s[0].rstrip(".") + " in all."]) for p, s, _ in queries]
            approximate, approximate_results = timed(planner.continuations, paraphrased)
            dead, dead_results = timed(planner.matches_dead_end, [(p.question, bad[:2]) for p, _, bad in queries])
            similar, similar_results = timed(
                planner.similar_problems, [(p.question.replace("?", " now?"), 3) for p, _, _ in queries])
            planner.flush()

    exact_hits = sum(1 for r in exact_results if r.exact and r.dead_ends)
    approximate_hits = sum(1 for r, (p, s, _) in zip(approximate_results, queries)
                           if r.state_node_id is not None and not r.exact)
    similar_hits = sum(1 for found, (p, _, _) in zip(similar_results, queries) if found and found[0].question == p.question)

    reference = [check_claims(step) for record in records for step in gsm8k_solution_steps(record["answer"])]
    corrupted = [check_claims(bad[1]) for _, _, bad in cases]

    print(f"Bank: {len(records)} GSM8K train problems, {nodes} nodes, built in {ingest_seconds:.1f} s "
          f"({args.embedder} embedder); {len(queries)} queries each.\n")
    print("| operation | median | p95 | found |")
    print("| --- | --- | --- | --- |")
    print(f"| continuations, exact state | {summary(exact)} | {exact_hits}/{len(queries)} with the dead end |")
    print(f"| continuations, paraphrased step | {summary(approximate)} | {approximate_hits}/{len(queries)} matched |")
    print(f"| matches_dead_end | {summary(dead)} | {sum(dead_results)}/{len(queries)} flagged |")
    print(f"| similar_problems (k=3) | {summary(similar)} | {similar_hits}/{len(queries)} ranked first |")
    print()
    print("| arithmetic checker | steps | all claims hold | a claim fails | no claim |")
    print("| --- | --- | --- | --- | --- |")
    for name, results in (("reference steps", reference), ("corrupted steps", corrupted)):
        holds = sum(1 for r in results if r and all(r))
        fails = sum(1 for r in results if r and not all(r))
        print(f"| {name} | {len(results)} | {holds} | {fails} | {len(results) - holds - fails} |")

    if args.self_eval:
        from tater_graph.model.llama import LlamaBackend

        model = LlamaBackend()
        pairs = cases[: args.self_eval]
        print(f"\n{len(pairs)} pairs of a GSM8K train reference step 2 and its corrupted copy, after step 1:\n")
        print("| scorer | AUC | seconds per score |")
        print("| --- | --- | --- |")
        scorers = [("arithmetic", ArithmeticScorer())]
        scorers += [(f"self-eval {mode}", SelfEvalScorer(model, mode=mode)) for mode in args.modes.split(",")]
        for name, scorer in scorers:
            auc, seconds = pairwise_auc(scorer, pairs)
            print(f"| {name} | {auc:.3f} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
