"""Soak test: many best-of-n searches with the fake model in one process, measuring RSS.

Prints one JSON line per report interval (searches done, RSS in MiB, row
counts, database size) and a summary line with the RSS growth after the warm-up:

    python tools/soak.py --searches 1000 --db /tmp/soak.duckdb

Each search is one best-of-n run (its own run row, checkpoint and index
save), over a fixed set of problems, so the graph grows the way a long
series of runs over one benchmark makes it grow.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

from tater_graph import Problem, StepGraph
from tater_graph.model.fake import FakeModel
from tater_graph.search import SearchConfig, best_of_n

PROBLEM_COUNT = 50
WORDS = ["add", "carry", "the", "sum", "is", "so", "then", "we", "get", "half", "double", "subtract"]


def rss_mib() -> float:
    """Return the resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def solution(question: str, seed: int) -> str:
    rng = random.Random(seed)
    steps = [" ".join(rng.choices(WORDS, k=3)) + f" {rng.randint(0, 9)}" for _ in range(rng.randint(2, 6))]
    return "\n".join(steps) + f"\n#### {rng.randint(0, 20)}"


def soak(db_path: Path, searches: int, n: int, report_every: int) -> list[dict]:
    problems = [Problem(f"Soak problem {i}: what is {i} plus {i}?", str(2 * i), "soak", f"s-{i}")
                for i in range(PROBLEM_COUNT)]
    reports = []
    started = time.perf_counter()
    with StepGraph.open(db_path, embedder="hashed") as graph:
        for search in range(1, searches + 1):
            model = FakeModel(solution)  # a fresh fake per run: it keeps every request it served
            config = SearchConfig(n=n, shots=0, seed=search)
            best_of_n(graph, model, [problems[search % PROBLEM_COUNT]], config)
            if search % report_every == 0 or search == searches:
                counts = graph.sql("SELECT (SELECT count(*) FROM rollouts), (SELECT count(*) FROM nodes), "
                                   "(SELECT count(*) FROM rollout_steps)").fetchall()[0]
                reports.append({
                    "searches": search, "rss_mib": round(rss_mib(), 1), "rollouts": counts[0], "nodes": counts[1],
                    "steps": counts[2], "db_bytes": db_path.stat().st_size,
                    "seconds": round(time.perf_counter() - started, 1),
                })
                print(json.dumps(reports[-1]), flush=True)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=1000, help="best-of-n runs (default 1000)")
    parser.add_argument("--n", type=int, default=4, help="rollouts per run (default 4)")
    parser.add_argument("--report-every", type=int, default=100, help="searches between reports")
    parser.add_argument("--warmup", type=int, default=100, help="searches before the RSS baseline")
    parser.add_argument("--db", type=Path, default=Path("soak.duckdb"), help="database file (must not exist)")
    args = parser.parse_args()
    if args.db.exists():
        parser.error(f"{args.db} exists: pass a new file")

    reports = soak(args.db, args.searches, args.n, args.report_every)
    baseline = next(r for r in reports if r["searches"] >= args.warmup)
    peak = max(r["rss_mib"] for r in reports)
    print(json.dumps({"summary": True, "searches": args.searches, "baseline_rss_mib": baseline["rss_mib"],
                      "final_rss_mib": reports[-1]["rss_mib"], "peak_rss_mib": peak,
                      "growth_after_warmup_mib": round(reports[-1]["rss_mib"] - baseline["rss_mib"], 1),
                      "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
