"""Read-side measurements for the engine benchmark: planner lookups, recall, SQL and export."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench_workload import vary_numbers

K = 10


@dataclass(frozen=True)
class QueryCase:
    """A search state to plan from: the problem text and the steps taken so far."""

    question: str
    steps: tuple[str, ...]
    exact: bool


def sample_query_cases(batches: list[list], count: int, seed: int) -> list[QueryCase]:
    """Return ``count`` states that are in the graph and ``count`` that are not (last step varied)."""
    rng = random.Random(seed)
    rollouts = [rollout for batch in batches for rollout in batch]
    cases = []
    for _ in range(count):
        rollout = rng.choice(rollouts)
        depth = rng.randint(1, len(rollout.steps))
        cases.append(QueryCase(rollout.problem.question, rollout.steps[:depth], exact=True))
    for _ in range(count):
        rollout = rng.choice(rollouts)
        depth = rng.randint(1, len(rollout.steps))
        varied = vary_numbers(rollout.steps[depth - 1], rng, 1.0) + " Let me check this again."
        cases.append(QueryCase(rollout.problem.question, rollout.steps[: depth - 1] + (varied,), exact=False))
    return cases


def percentiles(seconds: list[float]) -> dict:
    values = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


def measure_queries(graph_path: Path, cases: list[QueryCase], repeats: int, profile_path: Path | None = None) -> dict:
    """Time ``Planner.continuations`` on every case against a raw hnswlib k-NN query.

    The raw query runs on the engine's own hnswlib object, with the same
    ``ef``, on the embedding of the case's latest step. Each repeat runs all
    cases; the result contains the median over repeats of each percentile.
    With ``profile_path``, a pyinstrument profile of the first repeat is written there.
    """
    from tater_graph import StepGraph
    from tater_graph.planner import Planner

    graph = StepGraph.open(graph_path)
    try:
        planner = Planner(graph)
        raw = graph.ensure_index()._index
        raw.set_ef(graph.index.params.ef_search)
        vectors = graph.embed([case.steps[-1] for case in cases])

        runs: dict[str, list[dict]] = {"exact": [], "approximate": [], "raw_knn": []}
        exact_hits = approximate_found = 0
        for repeat in range(repeats):
            profiler = None
            if profile_path is not None and repeat == 0:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
            timings: dict[str, list[float]] = {name: [] for name in runs}
            exact_hits = approximate_found = 0
            for case, vector in zip(cases, vectors):
                start = time.perf_counter()
                result = planner.continuations(case.question, case.steps, K)
                timings["exact" if case.exact else "approximate"].append(time.perf_counter() - start)
                exact_hits += case.exact and result.exact
                approximate_found += (not case.exact) and bool(result.continuations)

                start = time.perf_counter()
                raw.knn_query(vector, k=K, num_threads=1)
                timings["raw_knn"].append(time.perf_counter() - start)
            if profiler is not None:
                profiler.stop()
                profile_path.write_text(profiler.output_text(unicode=False, color=False))
            for name, seconds in timings.items():
                runs[name].append(percentiles(seconds))
        planner.flush()
    finally:
        graph.close()

    result = {name: {key: statistics.median(run[key] for run in values) for key in values[0]}
              for name, values in runs.items()}
    result["exact_hit_rate"] = exact_hits / sum(case.exact for case in cases)
    result["approximate_found_rate"] = approximate_found / sum(not case.exact for case in cases)
    result["target_p99_ms"] = 3 * result["raw_knn"]["p99_ms"] + 5
    return result


def measure_recall(vectors: np.ndarray, queries: np.ndarray, ids: np.ndarray,
                   graph_path: Path | None = None) -> dict:
    """Recall@10 of the engine index against exact cosine search over ``vectors``.

    With ``graph_path`` the graph's own index is queried. Without it, the
    vectors go into a new engine index and into a bare hnswlib index with
    every vector (repeats included), whose recall is reported as ``raw``.
    A returned id counts as a hit when it is at least as similar as the exact
    10th neighbour: stored vectors repeat (one step text under several
    states), and any of the tied ids is a correct answer.
    """
    import hnswlib

    from tater_graph.index import IndexParams, VectorIndex

    tenth = _exact_tenth_similarity(vectors, queries)
    order = np.argsort(ids)

    def recall(found: np.ndarray) -> float:
        positions = order[np.searchsorted(ids, found, sorter=order)]
        similarity = np.einsum("qkd,qd->qk", vectors[positions], queries)
        return float(np.mean(similarity >= tenth[:, None] - 1e-5))

    result = {"corpus": len(ids), "queries": len(queries)}
    params = IndexParams()
    if graph_path is not None:
        from tater_graph import StepGraph

        with StepGraph.open(graph_path) as graph:
            result["engine"] = recall(graph.index.query(queries, K)[0])
        return result

    with tempfile.TemporaryDirectory() as folder:
        index = VectorIndex(Path(folder) / "index.hnsw", "bench", vectors.shape[1], params)
        index._new_index(len(ids))
        index.add(ids, vectors)
        result["engine"] = recall(index.query(queries, K)[0])
    raw = hnswlib.Index(space="cosine", dim=vectors.shape[1])
    raw.init_index(max_elements=len(ids), M=params.M, ef_construction=params.ef_construction, random_seed=100)
    raw.add_items(vectors, ids, num_threads=-1)
    raw.set_ef(params.ef_search)
    result["raw"] = recall(raw.knn_query(queries, k=K, num_threads=1)[0].astype(np.int64))
    return result


def _exact_tenth_similarity(vectors: np.ndarray, queries: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    best = np.full((len(queries), K), -np.inf, dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        similarity = queries @ vectors[start : start + chunk].T
        merged = np.concatenate([best, similarity], axis=1)
        best = -np.partition(-merged, K - 1, axis=1)[:, :K]
    return np.sort(best, axis=1)[:, 0]


SQL_QUERIES = {
    "nodes per problem (top 10)": (
        "SELECT problem_id, count(*) AS nodes, max(depth) AS max_depth, sum(terminal_visits) AS finished "
        "FROM nodes GROUP BY problem_id ORDER BY nodes DESC LIMIT 10", []),
    "children of a node by value": (
        "SELECT c.node_id, c.step_text, c.value, c.visits FROM edges e JOIN nodes c ON c.node_id = e.child_id "
        "WHERE e.parent_id = $node ORDER BY c.value DESC, c.visits DESC LIMIT 10", ["node"]),
    "recursive path to root": (
        "WITH RECURSIVE path(node_id, depth, step_text) AS ("
        " SELECT node_id, depth, step_text FROM nodes WHERE node_id = $deep"
        " UNION SELECT p.node_id, p.depth, p.step_text FROM path"
        " JOIN edges e ON e.child_id = path.node_id JOIN nodes p ON p.node_id = e.parent_id)"
        " SELECT * FROM path ORDER BY depth", ["deep"]),
    "answer votes of a problem": (
        "SELECT answer, sum(terminal_visits) AS votes, avg(value) AS value FROM nodes "
        "WHERE problem_id = $problem AND terminal_visits > 0 GROUP BY answer ORDER BY votes DESC", ["problem"]),
    "value by depth (whole bank)": (
        "SELECT depth, count(*) AS nodes, avg(value) AS mean_value FROM nodes GROUP BY depth ORDER BY depth", []),
}


def measure_sql(graph_path: Path, repeats: int) -> dict:
    """Median milliseconds of each representative SQL query, on a read-only connection."""
    import duckdb

    con = duckdb.connect(str(graph_path), read_only=True)
    problem = con.sql("SELECT problem_id FROM problems ORDER BY problem_id LIMIT 1 OFFSET "
                      "(SELECT count(*) // 2 FROM problems)").fetchall()[0][0]
    node = con.sql(f"SELECT node_id FROM nodes WHERE problem_id = {problem} AND depth = 0").fetchall()[0][0]
    deep = con.sql(f"SELECT node_id FROM nodes WHERE problem_id = {problem} ORDER BY depth DESC LIMIT 1").fetchall()[0][0]
    values = {"node": node, "deep": deep, "problem": problem}

    result = {}
    for title, (query, names) in SQL_QUERIES.items():
        params = {name: values[name] for name in names}
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            con.execute(query, params).fetchall()
            seconds.append(time.perf_counter() - start)
        result[title] = statistics.median(seconds) * 1000
    con.close()
    return result


def measure_export(graph_path: Path, folder: Path, max_nodes: int) -> dict:
    """Export whole problems, in id order, until ``max_nodes`` nodes: networkx build plus GraphML write."""
    from tater_graph.export import problem_graph, write_graph
    from tater_graph.store.database import Database

    folder.mkdir(parents=True, exist_ok=True)
    db = Database(graph_path, read_only=True)
    try:
        counts = db.con.sql("SELECT problem_id, count(*) FROM nodes GROUP BY problem_id ORDER BY problem_id").fetchall()
        chosen, total = [], 0
        for problem_id, nodes in counts:
            if total >= max_nodes:
                break
            chosen.append(problem_id)
            total += nodes
        build = write = 0.0
        for problem_id in chosen:
            start = time.perf_counter()
            graph = problem_graph(db, problem_id)
            build += time.perf_counter() - start
            start = time.perf_counter()
            write_graph(graph, folder / f"{problem_id}.graphml", "graphml")
            write += time.perf_counter() - start
    finally:
        db.close()
    size = sum(path.stat().st_size for path in folder.glob("*.graphml"))
    return {"problems": len(chosen), "nodes": total, "build_seconds": build, "write_seconds": write,
            "total_seconds": build + write, "graphml_bytes": size}
