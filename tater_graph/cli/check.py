"""The ``check`` command: verify the invariants a step graph keeps through crashes."""

from __future__ import annotations

import click

from tater_graph.cli.main import Context, cli, stderr
from tater_graph.cli.output import print_rows

pass_context = click.make_pass_decorator(Context)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per invariant.")
@click.option("--repair-index", is_flag=True,
              help="First open the graph for writing, which catches up or rebuilds the HNSW index from DuckDB.")
@pass_context
def check(ctx: Context, as_json: bool, repair_index: bool) -> None:
    """Verify whole rollouts, node and edge counts, the index and the schema.

    Reads the database without changing it (unless --repair-index) and exits
    with status 1 naming each invariant that fails. Run it when no other
    process has the database open for writing.

    \b
    Example:
        tater-graph --db bank.duckdb check
    """
    from tater_graph.check import check_graph

    if repair_index:
        from tater_graph.graph import StepGraph

        with StepGraph.open(ctx.db) as graph:
            stderr.print(f"Index {graph.index_status}: {graph.index.count} vectors.")

    report = check_graph(ctx.db)
    rows = [(result.name, "ok" if result.ok else "FAILED", result.detail) for result in report.results]
    print_rows(["invariant", "status", "detail"], rows, "json" if as_json else "table", title=str(ctx.db))
    if not report.ok:
        raise click.ClickException(f"{len(report.failed)} invariant(s) failed: {', '.join(report.failed)}")
