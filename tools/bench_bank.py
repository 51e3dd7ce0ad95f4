"""Benchmark bank eviction policies on a recycling workload: hit rate, tokens saved, accuracy.

Workload (replayed, no real model): the bank starts as the 400 ProcessBench
GSM8K rollouts (375 problems, graded, half of them wrong). Queries are a
stream of those problems drawn from a Zipf distribution whose popularity
order is reshuffled halfway, so recency matters. For each query the planner
(:meth:`tater_graph.planner.Planner.best_path`) walks the stored problem's
best path; its answer is used when the path ends at a terminal state whose
value is at least 0.5, which rejects verified dead ends, and the planner
records the use (``last_used_at``, ``uses``). Otherwise the fake model "generates" a solution, picking by seed
between the ProcessBench solution and the GSM8K reference solution, and the
rollout is stored ungraded, as test-time search would store it. Every
``--gc-every`` queries the bank is collected down to its capacity with the
policy under test.

Metrics per (capacity, policy):
  hit rate      queries answered from the bank
  tokens saved  tokens of reused solutions / tokens of all solutions (words, as the fake model counts)
  accuracy      queries whose final answer matches the GSM8K gold answer

Usage:
  python tools/bench_bank.py --queries 400 --seeds 0 1 2 --out docs/bank-results.json
  python tools/bench_bank.py --summarize docs/bank-results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from tater_graph import Problem, StepGraph
from tater_graph.answers import answers_match, extract_answer
from tater_graph.bank import BankLimits, gc, namespace_usage
from tater_graph.datasets import gsm8k_solution_steps, load_problems, read_records
from tater_graph.ingest import _from_processbench
from tater_graph.model.fake import FakeModel
from tater_graph.planner import Planner
from tater_graph.search.common import SearchConfig, sample_rollout
from tater_graph.store.writer import question_hash

NAMESPACE = "bench"
POLICIES = ("lru", "fifo", "lfu", "quality")


@dataclasses.dataclass
class Workload:
    """The seed rollouts, the problems by question, and the fake model's candidate solutions."""

    seed_rollouts: list
    problems: dict[str, Problem]
    solutions: dict[str, list[str]]


def build_workload() -> Workload:
    gold = {p.question.strip(): p for p in load_problems("gsm8k")}
    references = {r["question"].strip(): r["answer"] for r in read_records("gsm8k_test.jsonl.gz")}
    seed_rollouts, problems, solutions = [], {}, {}
    for number, record in enumerate(read_records("processbench_gsm8k.json.gz")):
        rollout = _from_processbench(record, "processbench_gsm8k", number, "gsm8k")
        question = rollout.problem.question.strip()
        problem = Problem(question, gold[question].gold_answer, "gsm8k", gold[question].source_id)
        seed_rollouts.append(dataclasses.replace(rollout, problem=problem))
        problems[question] = problem
        # Steps of one line each, ending in "#### answer", so the fake model's output splits the same way.
        lines = [line.strip() for step in rollout.steps for line in step.splitlines() if line.strip()]
        candidate = "\n".join(lines + [f"#### {rollout.answer}"])
        solutions.setdefault(question, []).append(candidate)
    for question in problems:
        solutions[question].append("\n".join(gsm8k_solution_steps(references[question])))
    return Workload(seed_rollouts, problems, solutions)


def query_stream(questions: list[str], count: int, seed: int, zipf_s: float) -> list[str]:
    """Return ``count`` questions drawn by Zipf popularity, reshuffled at the midpoint."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(questions) + 1) ** zipf_s
    weights /= weights.sum()
    stream = []
    for phase in range(2):
        order = rng.permutation(len(questions))
        picks = rng.choice(len(questions), size=count // 2 + phase * (count % 2), p=weights)
        stream.extend(questions[order[i]] for i in picks)
    return stream


def planner_answer(graph: StepGraph, planner: Planner, question: str) -> tuple[str, float, int] | None:
    """Return (answer, value, path tokens) of the planner's best path for a stored question, or None."""
    rows = graph.sql("SELECT problem_id FROM problems WHERE namespace = ? AND question_hash = ?",
                     [NAMESPACE, question_hash(question)]).fetchall()
    if not rows:
        return None
    path = planner.best_path(rows[0][0])
    if not path or not path[-1].is_terminal or path[-1].answer is None:
        return None
    return path[-1].answer, path[-1].value, sum(len(c.step_text.split()) for c in path)


def run_one(workload: Workload, stream: list[str], policy: str | None, max_nodes: int | None, gc_every: int,
            folder: Path) -> dict[str, object]:
    model = FakeModel(workload.solutions)
    config = SearchConfig(n=1, max_tokens=4096, temperature=0.8, shots=0)
    started = time.perf_counter()
    hits = correct = saved = generated = 0
    with StepGraph.open(folder / f"{policy}-{max_nodes}.duckdb", embedder="hashed", namespace=NAMESPACE) as graph:
        graph.ingest(workload.seed_rollouts)
        limits = None if policy is None else BankLimits(NAMESPACE, max_nodes=max_nodes, policy=policy)
        if limits is not None:
            gc(graph, limits=limits)
        planner = Planner(graph)
        for number, question in enumerate(stream, start=1):
            problem = workload.problems[question]
            found = planner_answer(graph, planner, question)
            if found is not None and found[1] >= 0.5:
                answer, _, tokens = found
                hits += 1
                saved += tokens
            else:
                rollout = sample_rollout(model, problem, config, number)
                answer = rollout.answer
                generated += rollout.generated_tokens
                graph.ingest([dataclasses.replace(rollout, is_correct=None)])
            correct += bool(answers_match(answer, problem.gold_answer))
            if limits is not None and number % gc_every == 0:
                planner.flush()
                gc(graph, limits=limits)
        nodes = namespace_usage(graph.db.con, NAMESPACE).nodes
    return {
        "policy": policy or "unbounded", "max_nodes": max_nodes, "queries": len(stream),
        "hit_rate": hits / len(stream), "tokens_saved": saved / (saved + generated) if saved + generated else 0.0,
        "accuracy": correct / len(stream), "final_nodes": nodes, "wall_seconds": time.perf_counter() - started,
    }


def summarize(rows: list[dict[str, object]]) -> str:
    """Return a Markdown table of the mean (min to max) of each metric over the seeds, per capacity and policy."""
    groups: dict[tuple, list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((row["max_nodes"] or 0, row["policy"]), []).append(row)
    lines = ["| max nodes | policy | hit rate | tokens saved | accuracy | seeds |", "|---|---|---|---|---|---|"]
    for (max_nodes, policy), group in sorted(groups.items(), key=lambda item: (item[0][0] or 10**12, item[0][1])):
        cells = []
        for metric in ("hit_rate", "tokens_saved", "accuracy"):
            values = [float(r[metric]) for r in group]
            cells.append(f"{np.mean(values):.3f} ({min(values):.3f} to {max(values):.3f})")
        lines.append(f"| {max_nodes or 'none'} | {policy} | {' | '.join(cells)} | {len(group)} |")
    return "\n".join(lines) + "\n\n" + paired_differences(rows)


# Pairs of (policy, baseline, metric): each difference is taken on the same stream (seed) and capacity.
COMPARISONS = (("lru", "fifo", "hit_rate"), ("lru", "fifo", "accuracy"), ("quality", "lru", "hit_rate"),
               ("quality", "lru", "accuracy"), ("quality", "fifo", "accuracy"))


def paired_differences(rows: list[dict[str, object]]) -> str:
    """Return a Markdown table of per-seed metric differences between policies at each capacity."""
    by_key = {(r["max_nodes"], r["policy"], r["seed"]): r for r in rows}
    capacities = sorted({r["max_nodes"] for r in rows if r["max_nodes"] is not None})
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| max nodes | comparison | per seed | mean |", "|---|---|---|---|"]
    for max_nodes in capacities:
        for policy, baseline, metric in COMPARISONS:
            diffs = [float(by_key[(max_nodes, policy, seed)][metric]) - float(by_key[(max_nodes, baseline, seed)][metric])
                     for seed in seeds if (max_nodes, policy, seed) in by_key and (max_nodes, baseline, seed) in by_key]
            if diffs:
                listed = ", ".join(f"{d:+.3f}" for d in diffs)
                lines.append(f"| {max_nodes} | {policy} - {baseline} {metric} | {listed} | {np.mean(diffs):+.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=600, help="queries per stream")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="stream seeds")
    parser.add_argument("--capacities", type=float, nargs="+", default=[0.25, 0.5, 1.0],
                        help="max nodes as fractions of the seed bank's node count")
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of problem popularity")
    parser.add_argument("--gc-every", type=int, default=25, help="queries between garbage collections")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    parser.add_argument("--summarize", type=Path, help="print the Markdown table of a results file and exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.summarize:
        print(summarize(json.loads(args.summarize.read_text())["rows"]))
        return

    workload = build_workload()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with StepGraph.open(folder / "size.duckdb", embedder="hashed", namespace=NAMESPACE) as graph:
            seed_nodes = graph.ingest(workload.seed_rollouts).new_nodes
        for seed in args.seeds:
            stream = query_stream(sorted(workload.problems), args.queries, seed, args.zipf)
            runs = [(None, None)] + [(p, int(c * seed_nodes)) for c in args.capacities for p in POLICIES]
            for policy, max_nodes in runs:
                row = run_one(workload, stream, policy, max_nodes, args.gc_every, folder)
                row["seed"] = seed
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
        args.out.write_text(json.dumps({"seed_nodes": seed_nodes, "args": settings, "rows": rows}, indent=1))
    print(summarize(rows))


if __name__ == "__main__":
    main()
