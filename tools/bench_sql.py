"""Measure the latency of the documented SQL example queries on a large graph.

Builds (once) a graph of synthetic but realistic rollouts: every GSM8K train
reference solution, plus variants of it whose steps are reworded, have a
wrong number, or stop early, and the ProcessBench GSM8K solutions as they
are. Then it runs every example query of ``docs/sql.md`` through the
sandbox and prints the median wall time of each, end to end and on an
already open sandbox connection.

Usage::

    python tools/bench_sql.py --db /tmp/bench.duckdb --variants 12 --repeat 5

The graph is built only when the file does not exist yet; pass a new path to
build another one. The hashed embedder keeps the build free of a model.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.answers import gsm8k_gold
from tater_graph.datasets import gsm8k_solution_steps, read_records
from tater_graph.sql import SandboxLimits, open_sandbox, query, read_examples

REWORDINGS = ("First, ", "So ", "Next, ", "Then ", "We know that ", "This means ", "Now, ")
NUMBER = re.compile(r"\d+")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "sql.md"


def synthetic_rollouts(variants: int, seed: int) -> list[Rollout]:
    """Return the reference solutions of GSM8K train plus ``variants`` varied copies of each."""
    rng = random.Random(seed)
    rollouts = []
    for number, record in enumerate(read_records("gsm8k_train.jsonl.gz")):
        gold = gsm8k_gold(record["answer"])
        problem = Problem(record["question"], gold, "gsm8k-train", f"gsm8k-train-{number}")
        steps = gsm8k_solution_steps(record["answer"])
        rollouts.append(Rollout(problem, tuple(steps), gold, True, source="bench", generator="reference"))
        for _ in range(variants):
            rollouts.append(_variant(problem, steps, gold, rng))
    rollouts.extend(_processbench_rollouts())
    return rollouts


def _variant(problem: Problem, steps: list[str], gold: str, rng: random.Random) -> Rollout:
    """Copy a solution, changing it from a random step on: reworded, a wrong number, or cut short."""
    start = rng.randrange(len(steps))
    varied = list(steps[:start])
    kind = rng.choice(("reword", "wrong", "short"))
    wrong = False
    for step in steps[start:]:
        if kind == "reword":
            step = rng.choice(REWORDINGS) + step[:1].lower() + step[1:]
        elif kind == "wrong" and NUMBER.search(step):
            step = NUMBER.sub(lambda m: str(int(m.group()) + rng.randint(1, 9)), step, count=1)
            wrong = True
        varied.append(step)
        if kind == "short" and rng.random() < 0.5:
            break
    finished = varied[-1].startswith("####") or varied[-1] == steps[-1]
    answer = gold if finished and not wrong else None
    correct = (not wrong) if finished else False
    return Rollout(problem, tuple(varied), answer, correct, source="bench", generator=f"variant-{kind}",
                   score=round(rng.random(), 3))


def _processbench_rollouts() -> list[Rollout]:
    rollouts = []
    for record in read_records("processbench_gsm8k.json.gz"):
        label = record["label"]
        labels = tuple(1 if label == -1 or i < label else (-1 if i == label else None)
                       for i in range(len(record["steps"])))
        problem = Problem(record["problem"], None, "processbench-gsm8k", record["id"])
        rollouts.append(Rollout(problem, tuple(record["steps"]), None, record["final_answer_correct"],
                                source="processbench", generator=record["generator"], step_labels=labels))
    return rollouts


def build(db: Path, variants: int, seed: int, batch: int) -> None:
    rollouts = synthetic_rollouts(variants, seed)
    started = time.perf_counter()
    with StepGraph.open(db, embedder="hashed") as graph:
        for i in range(0, len(rollouts), batch):
            graph.ingest(rollouts[i:i + batch])
            print(f"  ingested {min(i + batch, len(rollouts))}/{len(rollouts)} rollouts", file=sys.stderr)
    print(f"built {db} from {len(rollouts)} rollouts in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def measure(db: Path, repeat: int) -> list[dict[str, object]]:
    """Time each documented example end to end (``query()``) and on an already open sandbox connection.

    The end-to-end time includes the sqlglot check, starting the sandbox
    instance and attaching the file; the ``SELECT 1`` row shows that fixed cost.
    """
    limits = SandboxLimits(timeout_s=60, max_rows=100_000)
    examples = [("SELECT 1 (fixed cost of a query)", "SELECT 1"), *read_examples(DOCS)]
    con = open_sandbox(db, limits)
    results = []
    try:
        for title, sql in examples:
            rows = len(query(db, sql, limits=limits).fetchall())
            end_to_end = _median_ms(lambda: query(db, sql, limits=limits).fetchall(), repeat)
            warm = _median_ms(lambda: con.sql(sql).fetchall(), repeat)
            results.append({"query": title, "rows": rows, "end_to_end_ms": end_to_end, "warm_ms": warm})
    finally:
        con.close()
    return results


def _median_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("bench-sql.duckdb"), help="graph file (built when missing)")
    parser.add_argument("--variants", type=int, default=12, help="varied copies of each GSM8K train solution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=20_000, help="rollouts per ingest transaction")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each query")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    if not args.db.exists():
        build(args.db, args.variants, args.seed, args.batch)
    counts = query(args.db, "SELECT (SELECT count(*) FROM graph_nodes) AS nodes, "
                            "(SELECT count(*) FROM graph_edges) AS edges, "
                            "(SELECT count(*) FROM graph_rollouts) AS rollouts").fetchall()[0]
    print(f"graph: {counts[0]} nodes, {counts[1]} edges, {counts[2]} rollouts", file=sys.stderr)
    results = measure(args.db, args.repeat)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print("| query | rows | end to end, median ms | open sandbox, median ms |\n| --- | ---: | ---: | ---: |")
    for result in results:
        print(f"| {result['query']} | {result['rows']} | {result['end_to_end_ms']} | {result['warm_ms']} |")


if __name__ == "__main__":
    main()
