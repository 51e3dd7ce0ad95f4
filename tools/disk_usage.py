"""Measure disk usage of a step graph per 100,000 stored steps.

Ingests GSM8K train reference solutions plus perturbed copies (each copy
keeps a prefix of the reference and changes the numbers in the remaining
steps, so rollouts share prefixes the way sampled ones do) until the graph
holds the requested number of rollout steps, then checkpoints and prints
the file sizes as JSON:

    python tools/disk_usage.py --steps 100000 --db /tmp/disk.duckdb

The hashed embedder is used for speed; its vectors have the same 384
float32 dimensions as e5's, so the sizes hold for both.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.datasets import gsm8k_gold, gsm8k_solution_steps, read_records

ROLLOUTS_PER_PROBLEM = 4
BATCH = 500


def perturb(step: str, rng: random.Random) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group(0)) + rng.randint(1, 9)), step) if rng.random() < 0.8 \
        else step + " Check."


def rollouts_for(record: dict, number: int, rng: random.Random) -> list[Rollout]:
    steps = gsm8k_solution_steps(record["answer"])
    problem = Problem(record["question"], gsm8k_gold(record["answer"]), "gsm8k-train", f"gsm8k-train-{number}")
    rollouts = [Rollout(problem, tuple(steps), problem.gold_answer, True, source="jsonl")]
    for _ in range(ROLLOUTS_PER_PROBLEM - 1):
        keep = rng.randint(0, len(steps) - 1)
        changed = tuple(steps[:keep]) + tuple(perturb(step, rng) for step in steps[keep:])
        rollouts.append(Rollout(problem, changed, None, False, source="jsonl"))
    return rollouts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="rollout steps to store (default 100000)")
    parser.add_argument("--db", type=Path, default=Path("disk.duckdb"), help="database file (must not exist)")
    args = parser.parse_args()
    if args.db.exists():
        parser.error(f"{args.db} exists: pass a new file")

    rng = random.Random(0)
    records = read_records("gsm8k_train.jsonl.gz")
    started = time.perf_counter()
    stored = 0
    with StepGraph.open(args.db, embedder="hashed") as graph:
        pending: list[Rollout] = []
        for number, record in enumerate(records * 10):
            pending.extend(rollouts_for(record, number % len(records), rng))
            if len(pending) >= BATCH:
                graph.ingest(pending)
                stored += sum(len(r.steps) for r in pending)
                pending = []
            if stored >= args.steps:
                break
        if pending:
            graph.ingest(pending)
        counts = graph.sql("SELECT (SELECT count(*) FROM rollout_steps), (SELECT count(*) FROM nodes), "
                           "(SELECT count(*) FROM rollouts), (SELECT count(*) FROM problems)").fetchall()[0]

    index = args.db.with_name(args.db.name + ".hnsw")
    wal = args.db.with_name(args.db.name + ".wal")
    steps, nodes, rollouts, problems = counts
    db_bytes, index_bytes = args.db.stat().st_size, index.stat().st_size
    per = 100_000 / steps
    print(json.dumps({
        "steps": steps, "nodes": nodes, "rollouts": rollouts, "problems": problems,
        "db_bytes": db_bytes, "wal_bytes": wal.stat().st_size if wal.exists() else 0, "index_bytes": index_bytes,
        "db_mib_per_100k_steps": round(db_bytes * per / 2**20, 1),
        "index_mib_per_100k_steps": round(index_bytes * per / 2**20, 1),
        "total_mib_per_100k_steps": round((db_bytes + index_bytes) * per / 2**20, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }))


if __name__ == "__main__":
    main()
