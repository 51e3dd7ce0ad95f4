"""Tables and the log-log plot of the engine benchmark results (``docs/perf-results.json``)."""

from __future__ import annotations

from pathlib import Path


def _sizes(results: dict) -> list[tuple[int, dict]]:
    return sorted((int(size), entry) for size, entry in results["sizes"].items())


def e5_rate(entry: dict, e5: dict) -> float:
    """Extrapolated e5 ingest rate: the measured rate without embedding, plus e5's embedding time per step."""
    without = entry["ratios"]["engine_without_embedding_steps_per_s"]
    return 1 / (1 / without + 1 / e5["texts_per_s"])


def headline_table(results: dict) -> str:
    """Return the ratios to the raw baselines and the targets, one row per size."""
    lines = [
        "| step nodes | ingest without embedding / raw DuckDB + hnswlib (separate build; in-run add_items) "
        "| planner p99 exact / approximate (ms) | raw k-NN p99 (ms) | p99 target (ms) "
        "| exact / approximate p99 over target | recall@10 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, entry in _sizes(results):
        ingest, raw, queries = entry["ingest"], entry["raw"], entry["queries"]
        in_run = (raw["duckdb"] + ingest["hnswlib_add_items"]) / ingest["without_embedding"]
        separate = f"{raw['total'] / ingest['without_embedding']:.2f}" if raw["separate_hnswlib_index"] else "-"
        target = queries["target_p99_ms"]
        lines.append(
            f"| {entry['step_nodes']:,} | {separate}; {in_run:.2f} "
            f"| {queries['exact']['p99_ms']:.1f} / {queries['approximate']['p99_ms']:.1f} "
            f"| {queries['raw_knn']['p99_ms']:.2f} | {target:.1f} "
            f"| {queries['exact']['p99_ms'] / target:.2f} / {queries['approximate']['p99_ms'] / target:.2f} "
            f"| {entry['recall_hashed']['engine']:.4f} |"
        )
    return "\n".join(lines)


def markdown_tables(results: dict) -> str:
    """Return one markdown table per size, headline ratios first."""
    e5 = results["e5"]
    parts = [headline_table(results)]
    for size, entry in _sizes(results):
        ratios, queries = entry["ratios"], entry["queries"]
        recall = entry["recall_hashed"]
        disk = entry["disk_bytes"]
        export = entry["export"]
        rows = [
            ("**ingest without embedding / raw DuckDB + hnswlib**",
             f"**{ratios['ingest_ratio']:.2f}** (target >= 0.5)"),
            ("**planner p99 exact / approximate / target (3 x raw + 5 ms)**",
             f"**{queries['exact']['p99_ms']:.2f} / {queries['approximate']['p99_ms']:.2f} / "
             f"{queries['target_p99_ms']:.2f} ms**"),
            ("**recall@10, hashed vectors of held-out steps**", f"**{recall['engine']:.4f}** (target >= 0.98)"),
            ("ingest, hashed embedder (steps/s)", f"{ratios['engine_hashed_steps_per_s']:,.0f}"),
            ("ingest, without embedding time (steps/s)", f"{ratios['engine_without_embedding_steps_per_s']:,.0f}"),
            ("ingest, e5 embedder, extrapolated (steps/s)", f"{e5_rate(entry, e5):,.1f}"),
            ("raw DuckDB insert + hnswlib add (steps/s)", f"{ratios['raw_steps_per_s']:,.0f}"),
            ("raw DuckDB insert alone / hnswlib add alone (steps/s)"
             + ("" if entry["raw"]["separate_hnswlib_index"] else ", hnswlib timed inside the engine run"),
             f"{ratios['raw_duckdb_steps_per_s']:,.0f} / {ratios['raw_hnswlib_steps_per_s']:,.0f}"),
            ("engine seconds: total / embedding / hnswlib add_items / process CPU",
             f"{entry['ingest']['total']:.1f} / {entry['ingest']['embed']:.1f} / "
             f"{entry['ingest']['hnswlib_add_items']:.1f} / {entry['ingest']['cpu_seconds']:.1f}"),
            ("HNSW points / step nodes (repeated vectors are aliases)",
             f"{entry['ingest']['index_points']:,.0f} / {entry['step_nodes']:,}"),
            ("planner p50 exact / approximate (ms)",
             f"{queries['exact']['p50_ms']:.2f} / {queries['approximate']['p50_ms']:.2f}"),
            ("raw hnswlib k-NN p50 / p99 (ms)", f"{queries['raw_knn']['p50_ms']:.3f} / {queries['raw_knn']['p99_ms']:.3f}"),
        ]
        rows += [(f"SQL: {title} (ms)", f"{ms:.2f}") for title, ms in entry["sql"].items()]
        rows += [
            (f"export {export['nodes']:,} nodes in {export['problems']:,} problems: build + GraphML (s)",
             f"{export['build_seconds']:.1f} + {export['write_seconds']:.1f}"),
            ("database / index on disk (MiB)", f"{disk['database'] / 2**20:,.0f} / {disk['index'] / 2**20:,.0f}"),
            ("raw database / raw index on disk (MiB)",
             f"{disk['raw_database'] / 2**20:,.0f} / {disk['raw_index'] / 2**20:,.0f}"),
            ("peak RSS (MiB)", f"{entry['peak_rss_mib']:,.0f}"),
            ("load average at start / end (2 cores)",
             f"{entry['load_at_start'][0]:.1f} / {entry['load_at_end'][0]:.1f}"),
        ]
        header = (f"### {entry['step_nodes']:,} step nodes ({entry['edges']:,} edges, {entry['problems']:,} problems, "
                  f"{entry['rollouts']:,} rollouts in {entry['batches']} batches, {entry['repeats']} ingest repeat(s))")
        table = ["| measure | value |", "| --- | --- |"] + [f"| {name} | {value} |" for name, value in rows]
        parts.append("\n".join([header, "", *table]))
    return "\n\n".join(parts)


def draw_plot(results: dict, path: Path) -> None:
    """Draw cost against size on log-log axes: ingest per step, query latency, SQL and export."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = _sizes(results)
    nodes = [entry["step_nodes"] for _, entry in entries]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))

    def series(axis, values, label, style="-o"):
        axis.plot(nodes, values, style, label=label)

    series(left, [1e6 / e["ratios"]["engine_hashed_steps_per_s"] for _, e in entries], "engine ingest, hashed")
    series(left, [1e6 / e["ratios"]["engine_without_embedding_steps_per_s"] for _, e in entries],
           "engine ingest, without embedding")
    series(left, [1e6 / e["ratios"]["raw_steps_per_s"] for _, e in entries], "raw DuckDB + hnswlib", "--s")
    series(left, [1e6 / e["ratios"]["raw_duckdb_steps_per_s"] for _, e in entries], "raw DuckDB alone", ":s")
    series(left, [1e6 / e["ratios"]["raw_hnswlib_steps_per_s"] for _, e in entries], "raw hnswlib alone", ":^")
    series(left, [1e6 * e["export"]["total_seconds"] / e["export"]["nodes"] for _, e in entries],
           "export, per node (networkx + GraphML)", "-.d")
    left.set_title("Write and export cost per step node")
    left.set_ylabel("microseconds per step node")

    series(right, [e["queries"]["exact"]["p99_ms"] for _, e in entries], "planner exact hit, p99")
    series(right, [e["queries"]["approximate"]["p99_ms"] for _, e in entries], "planner approximate, p99")
    series(right, [e["queries"]["raw_knn"]["p99_ms"] for _, e in entries], "raw hnswlib k-NN, p99", "--s")
    series(right, [e["queries"]["target_p99_ms"] for _, e in entries], "target: 3 x raw + 5 ms", ":")
    for title in ("recursive path to root", "nodes per problem (top 10)"):
        series(right, [e["sql"][title] for _, e in entries], f"SQL: {title}", "-.x")
    right.set_title("Query latency")
    right.set_ylabel("milliseconds")

    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("step nodes in the graph")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
