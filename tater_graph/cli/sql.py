"""The ``sql`` command: run one read-only query on the graph through the sandbox."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from tater_graph.cli.main import Context, cli, stderr
from tater_graph.cli.output import print_rows

pass_context = click.make_pass_decorator(Context)


@cli.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print rows as one JSON array.")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="Print one JSON object per row.")
@click.option("--csv", "as_csv", is_flag=True, help="Print rows as CSV with a header line.")
@click.option("--parquet", "parquet_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write rows to this Parquet file instead of printing them.")
@click.option("--dialect", default="duckdb", show_default=True,
              help="SQL dialect of QUERY (postgres, sqlite, mysql, ...), transpiled to DuckDB with sqlglot.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Stop the query after this many seconds.")
@click.option("--max-rows", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Stop the query when it returns more rows than this.")
@click.option("--memory-limit", default=None, help="DuckDB memory limit for the query, such as 2GB.")
@click.option("--namespace", help="Read only this bank's rows and those of the banks that granted it read access.")
@pass_context
def sql(ctx: Context, query: str, as_json: bool, as_jsonl: bool, as_csv: bool, parquet_file: Path | None,
        dialect: str, timeout: float, max_rows: int, memory_limit: str | None, namespace: str | None) -> None:
    """Run one read-only SQL QUERY on the graph (QUERY - reads it from stdin).

    Query the graph_* views and the graph macros path_to_root, subtree,
    children and best_path (see docs/sql.md). Queries may not write, read
    files or change settings.

    \b
    Examples:
        tater-graph sql "SELECT dataset, count(*) FROM graph_problems GROUP BY ALL"
        tater-graph sql --csv "SELECT * FROM best_path(1)" > best.csv
        tater-graph sql --dialect postgres "SELECT node_id::text FROM graph_nodes LIMIT 3"
    """
    from tater_graph.sql import SandboxLimits
    from tater_graph.sql import query as run_query

    chosen = [name for name, on in (("--json", as_json), ("--jsonl", as_jsonl), ("--csv", as_csv),
                                    ("--parquet", parquet_file is not None)) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one output format, got {' and '.join(chosen)}")
    if query == "-":
        query = sys.stdin.read()

    limits = SandboxLimits(timeout_s=timeout, max_rows=max_rows, memory_limit=memory_limit)
    relation = run_query(ctx.db, query, dialect=dialect, limits=limits, namespace=namespace)

    if parquet_file is not None:
        _write_parquet(relation.to_arrow_table(), parquet_file)
        return
    columns, rows = relation.columns, relation.fetchall()
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return
    print_rows(columns, rows, "json" if as_json else "jsonl" if as_jsonl else "table")


def _write_parquet(table, path: Path) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    stderr.print(f"Wrote {table.num_rows} rows to {path}")
