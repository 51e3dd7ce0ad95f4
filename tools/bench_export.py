"""Measure export time and peak memory on a synthetic step graph of one large problem.

The graph is written straight into the tables with SQL, with no model and
no embedding. It is a 3-ary tree of ``--nodes`` nodes whose step texts
contain colons, quotes, braces and LaTeX. One graded rollout ends at each
leaf, and every tenth node has a step score. Each format is then exported in its own
Python process, and its peak resident set size is read from ``VmHWM`` in
``/proc/self/status`` (Linux only). ``ru_maxrss`` would not do, because Linux
carries the parent's peak over into a child across ``exec``.

    python tools/bench_export.py --nodes 100000 --folder /tmp/bench-export

prints a markdown table: format, seconds, peak RSS in MiB and file size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

# Plain names stream from DuckDB; build-only builds the networkx graph and writes nothing;
# networkx-NAME builds the graph and writes it with write_graph.
FORMATS = ("parquet", "csv", "graphml", "gexf", "json", "dot", "build-only", "networkx-graphml", "networkx-gexf",
           "networkx-json", "networkx-dot")


def make_database(path: Path, n_nodes: int, seed: int = 0) -> None:
    """Write a one-problem graph of ``n_nodes`` nodes (node 1 is the root) into a new database at ``path``."""
    from tater_graph.store.database import Database

    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_nodes + 1, dtype=np.int64)
    parents = np.maximum((ids - 2) // 3 + 1, 1)
    depth = np.zeros(n_nodes, dtype=np.int32)
    for index in range(1, n_nodes):
        depth[index] = depth[parents[index] - 1] + 1
    is_leaf = np.ones(n_nodes, dtype=bool)
    is_leaf[parents[1:] - 1] = False
    graded = rng.integers(1, 20, n_nodes)
    successes = rng.integers(0, graded + 1)
    texts = [f'Step {i}: "half" of {{x_{i}}} is $\\frac{{{i}}}{{2}} = {i / 2}$\nso we keep it.' for i in ids]
    texts[0] = ""

    with Database(path) as db:
        con = db.con
        con.execute("INSERT INTO problems (problem_id, dataset, question, question_hash, gold_answer) "
                    "VALUES (1, 'bench', 'A synthetic problem: what is {x}?', 'bench', '42')")
        nodes = pa.table({
            "node_id": ids, "problem_id": np.ones(n_nodes, dtype=np.int64), "state_key": [str(i) for i in ids],
            "depth": depth, "step_text": texts, "step_norm": [t.lower() for t in texts], "visits": graded,
            "graded": graded, "successes": successes, "value": (successes + 1) / (graded + 2),
            "terminal_visits": is_leaf.astype(np.int64),
            "answer": [str(i % 50) if leaf else None for i, leaf in zip(ids, is_leaf)],
        })
        con.register("nodes_arrow", nodes)
        con.execute("INSERT INTO nodes BY NAME SELECT * FROM nodes_arrow")
        con.execute("INSERT INTO edges SELECT p.node_id, c.node_id, 1, c.step_norm, c.visits "
                    "FROM nodes_arrow c JOIN nodes_arrow p ON p.node_id = greatest((c.node_id - 2) // 3 + 1, 1) "
                    "WHERE c.node_id > 1")
        con.execute("INSERT INTO rollouts (rollout_id, problem_id, source, answer, is_correct, n_steps, "
                    "terminal_node_id) SELECT row_number() OVER (), 1, 'bench', answer, node_id % 3 = 0, depth, "
                    "node_id FROM nodes_arrow WHERE terminal_visits > 0")
        con.execute("INSERT INTO step_scores (node_id, scorer, score) SELECT node_id, 'bench', value "
                    "FROM nodes_arrow WHERE node_id % 10 = 0")
        con.unregister("nodes_arrow")


def peak_rss_mib() -> float:
    """Return this process's peak resident set size in MiB, from ``VmHWM`` in ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("VmHWM missing from /proc/self/status: this benchmark needs Linux")


def export_once(db_path: Path, fmt: str, output: Path) -> dict:
    """Export problem 1 in ``fmt`` in this process; return seconds, peak RSS and file sizes."""
    from tater_graph.export import build_graph, export_selection, select_problem, write_graph, write_tables
    from tater_graph.store.database import Database

    baseline = peak_rss_mib()
    started = time.perf_counter()
    with Database(db_path, read_only=True) as db:
        selection = select_problem(db, 1)
        if fmt in ("parquet", "csv"):
            files = write_tables(db, selection, output, fmt)
        elif fmt.startswith("networkx-"):
            graph = build_graph(db, selection)
            files = [write_graph(graph, output.with_suffix(f".{fmt}"), fmt.removeprefix("networkx-"))]
        elif fmt == "build-only":
            build_graph(db, selection)
            files = []
        else:
            files = [export_selection(db, selection, output.with_suffix(f".{fmt}"), fmt).path]
    seconds = time.perf_counter() - started
    return {"format": fmt, "seconds": round(seconds, 2), "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": baseline,
            "bytes": sum(Path(f).stat().st_size for f in files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=100_000, help="nodes in the synthetic problem")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/bench-export"), help="work folder")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset of " + ", ".join(FORMATS))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one format in this process
    args = parser.parse_args()
    db_path = args.folder / "bench.duckdb"

    if args.one:
        print(json.dumps(export_once(db_path, args.one, args.folder / "out")))
        return

    args.folder.mkdir(parents=True, exist_ok=True)
    db_path.unlink(missing_ok=True)
    started = time.perf_counter()
    make_database(db_path, args.nodes)
    print(f"built a {args.nodes}-node database in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    print("| format | seconds | peak RSS MiB | RSS after imports MiB | output MiB |")
    print("|---|---|---|---|---|")
    for fmt in args.formats.split(","):
        result = subprocess.run([sys.executable, __file__, "--folder", str(args.folder), "--one", fmt],
                                check=True, capture_output=True, text=True)
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| {fmt} | {row['seconds']} | {row['peak_rss_mib']} | {row['baseline_rss_mib']} | "
              f"{row['bytes'] / 2**20:.1f} |", flush=True)


if __name__ == "__main__":
    main()
