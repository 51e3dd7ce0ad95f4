"""Benchmark the engine at 10k, 100k and 1M step nodes against raw DuckDB and hnswlib.

Usage (from the repository root, with tater-graph installed):

    python tools/bench_engine.py --quick          # 10k nodes, one repeat, into out/perf-quick.json
    python tools/bench_engine.py                  # 10k and 100k nodes
    python tools/bench_engine.py --sizes 1000000  # add the 1M size (over an hour on 2 shared cores)
    python tools/bench_engine.py --report         # redraw the plot and tables from the saved results

Each size runs in its own child process (so the peak RSS is that size's) on
graphs built from real step texts (see ``tools/bench_workload.py``), and
measures in one run:

- ingest throughput with the hashed embedder, and without embedding time,
  against a raw DuckDB bulk insert of the same rows plus a raw hnswlib add of
  the same vectors (the distinct ones the engine indexes), in the same
  batches, each persisted (commit, checkpoint, index file written). Above
  ``--raw-hnswlib-max`` nodes no second index is built: the raw hnswlib time
  is then the time of hnswlib's ``add_items`` calls inside the engine run;
- the e5 embedder's rate on a sample of the step texts, from which its ingest
  rate is extrapolated (embedding 1M steps with e5 takes hours on 2 cores);
- planner query latency (``Planner.continuations``), exact state hit and
  approximate lookup, against a raw k-NN query of the same vector on the
  engine's own hnswlib object;
- HNSW recall@10 against exact brute-force search (hashed vectors at every
  size, e5 vectors of real step texts on a smaller corpus);
- latency of representative SQL queries, export time of a problem set of up
  to 100k nodes (networkx build plus GraphML), size on disk and peak RSS.

Results are merged into ``docs/perf-results.json`` (one entry per size, so
sizes can be run separately) and the plot is drawn to
``docs/img/perf-scaling.png``. ``--profile`` writes a pyinstrument profile of
the engine ingest next to the results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_queries import (  # noqa: E402
    measure_export,
    measure_queries,
    measure_recall,
    measure_sql,
    sample_query_cases,
)
from bench_workload import Workload, load_solutions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "perf-results.json"
QUICK_RESULTS = ROOT / "out" / "perf-quick.json"
PLOT = ROOT / "docs" / "img" / "perf-scaling.png"
BATCH_ROLLOUTS = 2000
TABLES = ("problems", "rollouts", "nodes", "edges", "rollout_steps", "node_vectors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k nodes only, one repeat, small samples")
    parser.add_argument("--sizes", default=None, help="comma-separated node counts (default 10000,100000)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="ingest repeats per size (default 3 below 100k nodes, else 1)")
    parser.add_argument("--results", type=Path, default=None,
                        help="JSON file the results are merged into (default docs/perf-results.json, "
                             "with --quick out/perf-quick.json)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--profile", action="store_true", help="write a pyinstrument profile of the ingest")
    parser.add_argument("--profile-planner", action="store_true",
                        help="write a pyinstrument profile of the first repeat of planner queries")
    parser.add_argument("--report", action="store_true", help="only redraw the plot and print the tables")
    parser.add_argument("--skip-e5", action="store_true", help="keep the e5 results already saved")
    parser.add_argument("--raw-hnswlib-max", type=int, default=200_000,
                        help="largest size at which a separate bare hnswlib index is built (above it, the "
                             "raw add time is the time of hnswlib's add_items calls inside the engine run)")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.results is None:
        args.results = QUICK_RESULTS if args.quick else RESULTS

    if args.one_size:
        result = run_size(args.one_size, args)
        print(json.dumps(result))
        return
    if not args.report:
        run_all(args)
    report(args.results)


def run_all(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in (args.sizes or ("10000" if args.quick else "10000,100000")).split(",")]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.results.read_text()) if args.results.exists() else {"sizes": {}}
    results["machine"] = describe_machine()
    if not (args.skip_e5 and "e5" in results):
        results["e5"] = measure_e5(quick=args.quick)
    for size in sizes:
        print(f"size {size}: running", file=sys.stderr, flush=True)
        command = [sys.executable, __file__, "--one-size", str(size), "--results", str(args.results)]
        for flag, value in (("--repeats", args.repeats), ("--workdir", args.workdir),
                            ("--raw-hnswlib-max", args.raw_hnswlib_max)):
            if value is not None:
                command += [flag, str(value)]
        command += ["--quick"] * args.quick + ["--profile"] * args.profile + ["--profile-planner"] * args.profile_planner
        output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        results["sizes"][str(size)] = json.loads(output.stdout.strip().splitlines()[-1])
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1))


def describe_machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    return {
        "cpu": fields.get("Model name", "?").strip(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_before": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def measure_e5(quick: bool) -> dict:
    """Time the e5 embedder on real step texts, and measure HNSW recall on e5 vectors."""
    from tater_graph.embedders import get_embedder

    solutions = load_solutions()
    rng = np.random.default_rng(3)
    texts = [step for solution in solutions for step in solution.steps]
    order = rng.permutation(len(texts))
    corpus_size, query_count = (200, 50) if quick else (800, 100)
    corpus = [texts[i] for i in order[:corpus_size]]
    queries = [texts[i] for i in order[corpus_size : corpus_size + query_count]]

    embedder = get_embedder("e5")
    embedder.embed(corpus[:8])
    start = time.perf_counter()
    corpus_vectors = embedder.embed(corpus)
    elapsed = time.perf_counter() - start
    query_vectors = embedder.embed(queries)
    recall = measure_recall(corpus_vectors, query_vectors, np.arange(1, len(corpus) + 1))
    print(f"e5: {len(corpus) / elapsed:.1f} texts/s, recall@10 {recall['engine']:.4f} on {len(corpus)} vectors",
          file=sys.stderr, flush=True)
    return {"texts_per_s": len(corpus) / elapsed, "sample": len(corpus), "recall_at_10": recall,
            "mean_chars": float(np.mean([len(t) for t in corpus]))}


# ---- one size, in a child process -----------------------------------------------


def run_size(size: int, args: argparse.Namespace) -> dict:
    repeats = args.repeats or (1 if args.quick or size >= 100_000 else 3)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{size}-", dir=args.workdir))
    try:
        return _run_size(size, repeats, workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_size(size: int, repeats: int, workdir: Path, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    workload = Workload(load_solutions(), size)
    problems = list(workload.problems())
    batches = interleave_batches(problems)
    rollouts = sum(len(batch) for batch in batches)
    log(f"size {size}: {workload.node_count} step nodes, {workload.edge_count} edges, {len(problems)} problems, "
        f"{rollouts} rollouts in {len(batches)} batches ({time.perf_counter() - start:.0f} s)")
    result = {"target": size, "step_nodes": workload.node_count, "edges": workload.edge_count,
              "problems": len(problems), "rollouts": rollouts, "batches": len(batches), "repeats": repeats,
              "load_at_start": os.getloadavg()}

    partial = args.results.with_name(f"perf-partial-{size}.json")

    def save(phase: str) -> None:
        log(f"size {size}: {phase} done ({time.perf_counter() - start:.0f} s)")
        partial.write_text(json.dumps(result, indent=1))

    ingest_runs = []
    for repeat in range(repeats):
        path = workdir / f"engine-{repeat}.duckdb"
        profile_path = args.results.parent / f"profile-ingest-{size}.txt" if args.profile and repeat == 0 else None
        ingest_runs.append(ingest_engine(path, batches, profile_path))
        log(f"size {size}: engine ingest {repeat + 1}/{repeats}: {ingest_runs[-1]}")
        if repeat < repeats - 1:
            remove_graph(path)
    graph_path = workdir / f"engine-{repeats - 1}.duckdb"
    result["ingest"] = median_dict(ingest_runs)
    result["counts"] = check_counts(graph_path, workload)
    save("engine ingest")

    separate_index = size <= args.raw_hnswlib_max
    raw_runs = [ingest_raw(graph_path, workdir / f"raw-{repeat}", len(batches), separate_index)
                for repeat in range(repeats)]
    result["raw"] = median_dict(raw_runs)
    if not separate_index:
        result["raw"]["hnswlib"] = result["ingest"]["hnswlib_add_items"]
    result["raw"]["total"] = result["raw"]["duckdb"] + result["raw"]["hnswlib"]
    result["raw"]["separate_hnswlib_index"] = separate_index
    result["ratios"] = ingest_ratios(result)
    save("raw ingest")

    # Fewer cases at 1M keep the run within the CPU budget; p99 then rests on 450 samples a kind.
    if args.quick:
        case_count = 100
    elif size >= 1_000_000:
        case_count = 150
    else:
        case_count = 300
    cases = sample_query_cases(batches, count=case_count, seed=11)
    planner_profile = args.results.parent / f"profile-planner-{size}.txt" if args.profile_planner else None
    result["queries"] = measure_queries(graph_path, cases, repeats=3, profile_path=planner_profile)
    save("queries")
    result["recall_hashed"] = measure_recall_from_graph(graph_path, batches)
    save("recall")
    result["sql"] = measure_sql(graph_path, repeats=5)
    result["export"] = measure_export(graph_path, workdir / "export", max_nodes=100_000)
    save("sql and export")
    result["disk_bytes"] = disk_sizes(graph_path, workdir / f"raw-{repeats - 1}")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["load_at_end"] = os.getloadavg()
    result["wall_seconds"] = time.perf_counter() - start
    partial.unlink()
    return result


def interleave_batches(problems: list[list]) -> list[list]:
    """Split each problem's rollouts in two waves, the second one batch later, so
    later batches merge into problems that earlier batches created."""
    first = [r for rollouts in problems for r in rollouts[: len(rollouts) // 2]]
    second = [r for rollouts in problems for r in rollouts[len(rollouts) // 2 :]]
    batches = []
    half = BATCH_ROLLOUTS // 2
    for start in range(0, max(len(first), len(second)) + half, half):
        lagged = max(0, start - half)
        batch = first[start : start + half] + second[lagged : lagged + half] if start else first[:half]
        if batch:
            batches.append(batch)
    return batches


class TimedEmbedder:
    """Wraps an embedder and adds up the seconds spent embedding."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.seconds = 0.0

    def embed(self, texts):
        start = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - start


class TimedHnsw:
    """Forwards to an hnswlib index and adds up the seconds spent in ``add_items``."""

    def __init__(self, inner):
        self._inner = inner
        self.seconds = 0.0

    def add_items(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self._inner.add_items(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def __getattr__(self, name):
        return getattr(self._inner, name)


def ingest_engine(path: Path, batches: list[list], profile_path: Path | None) -> dict:
    """Ingest every batch through StepGraph with the hashed embedder; return seconds per phase."""
    from tater_graph import StepGraph
    from tater_graph.embedders import get_embedder

    embedder = TimedEmbedder(get_embedder("hashed"))
    embedder.embed(["warm up the vectorizer"])
    embedder.seconds = 0.0
    profiler = _start_profiler() if profile_path else None

    cpu_start = time.process_time()
    start = time.perf_counter()
    graph = StepGraph.open(path, embedder="hashed")
    graph._embedder = embedder
    hnsw = TimedHnsw(graph.index._index)
    graph.index._index = hnsw
    for batch in batches:
        graph.ingest(batch)
    points = graph.index.point_count
    graph.close()
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start

    if profiler:
        profiler.stop()
        profile_path.write_text(profiler.output_text(unicode=False, color=False))
    return {"total": total, "embed": embedder.seconds, "hnswlib_add_items": hnsw.seconds,
            "without_embedding": total - embedder.seconds, "cpu_seconds": cpu, "index_points": points}


def _start_profiler():
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    return profiler


def ingest_raw(graph_path: Path, folder: Path, batch_count: int, separate_index: bool) -> dict:
    """Insert the engine's final rows into a fresh database of the same schema, and add the
    vectors the engine indexed (one per distinct vector) to a bare hnswlib index, in as many
    batches, each committed."""
    import duckdb
    import hnswlib

    from tater_graph.index import IndexParams
    from tater_graph.index_aliases import VectorAliases
    from tater_graph.store.database import Database

    folder.mkdir(parents=True, exist_ok=True)
    source = duckdb.connect(str(graph_path), read_only=True)
    tables = {name: source.sql(f"SELECT * FROM {name} ORDER BY 1").to_arrow_table() for name in TABLES}
    source.close()

    Database(folder / "raw.duckdb").close()  # the same schema, through the migrations
    start = time.perf_counter()
    con = duckdb.connect(str(folder / "raw.duckdb"))
    for batch in range(batch_count):
        con.execute("BEGIN TRANSACTION")
        for name, table in tables.items():
            step = -(-table.num_rows // batch_count)
            part = table.slice(batch * step, step)  # noqa: F841 (read by DuckDB's replacement scan)
            con.execute(f"INSERT INTO {name} SELECT * FROM part")
        con.execute("COMMIT")
    con.execute("CHECKPOINT")
    con.close()
    duck_seconds = time.perf_counter() - start
    if not separate_index:
        return {"duckdb": duck_seconds}

    labels = VectorAliases.load(Path(str(graph_path) + ".hnsw.aliases")).labels
    indexed = np.isin(tables["node_vectors"].column("node_id").to_numpy(), np.fromiter(labels.values(), np.int64))
    ids = tables["node_vectors"].column("node_id").to_numpy()[indexed]
    vectors = tables["node_vectors"].column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, 384)
    vectors = vectors[indexed]
    del tables
    params = IndexParams()
    start = time.perf_counter()
    index = hnswlib.Index(space="cosine", dim=384)
    index.init_index(max_elements=1024, M=params.M, ef_construction=params.ef_construction, random_seed=100)
    step = -(-len(ids) // batch_count)
    for batch in range(batch_count):
        part = slice(batch * step, (batch + 1) * step)
        needed = index.get_current_count() + len(ids[part])
        if needed > index.get_max_elements():
            index.resize_index(max(needed, 2 * index.get_max_elements()))
        index.add_items(vectors[part], ids[part], num_threads=-1)
    index.save_index(str(folder / "raw.hnsw"))
    return {"duckdb": duck_seconds, "hnswlib": time.perf_counter() - start}


def ingest_ratios(result: dict) -> dict:
    nodes = result["step_nodes"]
    engine, raw = result["ingest"], result["raw"]
    return {
        "engine_hashed_steps_per_s": nodes / engine["total"],
        "engine_without_embedding_steps_per_s": nodes / engine["without_embedding"],
        "raw_steps_per_s": nodes / raw["total"],
        "raw_duckdb_steps_per_s": nodes / raw["duckdb"],
        "raw_hnswlib_steps_per_s": nodes / raw["hnswlib"],
        "ingest_ratio": raw["total"] / engine["without_embedding"],
    }


def check_counts(graph_path: Path, workload: Workload) -> dict:
    """Compare the stored node and edge counts with the generator's own count of states."""
    import duckdb

    con = duckdb.connect(str(graph_path), read_only=True)
    nodes, edges = con.sql("SELECT (SELECT count(*) FROM nodes WHERE depth > 0), (SELECT count(*) FROM edges)").fetchall()[0]
    con.close()
    counts = {"stored_step_nodes": nodes, "stored_edges": edges, "expected_step_nodes": workload.node_count,
              "expected_edges": workload.edge_count}
    if nodes != workload.node_count or edges != workload.edge_count:
        raise SystemExit(f"merge mismatch: {counts}")
    return counts


def measure_recall_from_graph(graph_path: Path, batches: list[list]) -> dict:
    """Recall@10 of the engine index on hashed vectors of held-out step texts."""
    import duckdb

    from bench_workload import vary_numbers
    from tater_graph.embedders import get_embedder

    con = duckdb.connect(str(graph_path), read_only=True)
    table = con.sql("SELECT node_id, embedding FROM node_vectors ORDER BY node_id").to_arrow_table()
    con.close()
    ids = table.column("node_id").to_numpy()
    vectors = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(len(ids), 384)
    del table

    rng = np.random.default_rng(5)
    import random

    text_rng = random.Random(5)
    rollouts = [r for batch in batches for r in batch]
    texts = []
    for i in rng.choice(len(rollouts), 200, replace=False):
        steps = rollouts[i].steps
        texts.append(vary_numbers(steps[int(rng.integers(len(steps)))], text_rng, 1.0))
    queries = get_embedder("hashed").embed(texts)
    return measure_recall(vectors, queries, ids, graph_path=graph_path)


def disk_sizes(graph_path: Path, raw_folder: Path) -> dict:
    def size(path: Path) -> int:
        return path.stat().st_size if path.exists() else 0

    return {
        "database": size(graph_path) + size(Path(str(graph_path) + ".wal")),
        "index": sum(size(p) for p in graph_path.parent.glob(graph_path.name + ".hnsw*")),
        "raw_database": size(raw_folder / "raw.duckdb"),
        "raw_index": size(raw_folder / "raw.hnsw"),
    }


def remove_graph(path: Path) -> None:
    for extra in path.parent.glob(path.name + "*"):
        extra.unlink()


def median_dict(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- report ---------------------------------------------------------------------


def report(results_path: Path) -> None:
    from bench_report import draw_plot, markdown_tables

    results = json.loads(results_path.read_text())
    draw_plot(results, PLOT if results_path == RESULTS else results_path.with_suffix(".png"))
    print(markdown_tables(results))


if __name__ == "__main__":
    main()
