"""The ``export`` command: write part of the step graph as a graph file, tables or an HTML view."""

from __future__ import annotations

from pathlib import Path

import click

from tater_graph.cli.main import Context, cli, stderr
from tater_graph.cli.output import print_rows

pass_context = click.make_pass_decorator(Context)

GRAPH_FORMATS = ("graphml", "gexf", "json", "dot")
TABLE_FORMATS = ("parquet", "csv")
ALL_FORMATS = GRAPH_FORMATS + TABLE_FORMATS + ("html",)


@cli.command()
@click.option("--problem", "problem_ids", type=int, multiple=True,
              help="Problem id; repeat it to export several problems in one graph.")
@click.option("--run", "run_id", type=int, help="Run id: the nodes its rollouts passed through.")
@click.option("--node", "node_id", type=int, help="Node id: its neighbourhood (see --depth and --direction).")
@click.option("--depth", type=click.IntRange(min=0), default=1, show_default=True,
              help="With --node: maximum number of edges from the node.")
@click.option("--direction", type=click.Choice(["both", "out", "in"]), default="both", show_default=True,
              help="With --node: follow edges to children (out), to parents (in), or both.")
@click.option("--dataset", help="Export every problem of this dataset (combines with --problem and --namespace).")
@click.option("--namespace", help="Export every problem of this namespace.")
@click.option("--limit", type=click.IntRange(min=1), help="With --dataset or --namespace: at most this many problems.")
@click.option("--format", "fmt", type=click.Choice(ALL_FORMATS), default="graphml", show_default=True,
              help="graphml, gexf, node-link json, dot, parquet or csv tables (two files), or an offline html view.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file; for tables the name before .nodes.FORMAT and .edges.FORMAT "
                   "(default: a name from the selection, such as problem-3.graphml).")
@click.option("--json", "as_json", is_flag=True, help="Print the written files and counts as JSON.")
@pass_context
def export(ctx: Context, problem_ids: tuple[int, ...], run_id: int | None, node_id: int | None, depth: int,
           direction: str, dataset: str | None, namespace: str | None, limit: int | None, fmt: str,
           output: Path | None, as_json: bool) -> None:
    """Write a problem's DAG, a run, a node's neighbourhood or a set of problems.

    Choose exactly one of --problem, --run, --node, or --dataset/--namespace
    (which --problem may narrow). Files are written to a temporary name and
    renamed, so a failed export leaves no partial file.

    \b
    Examples:
        tater-graph export --problem 1 --format graphml -o p1.graphml
        tater-graph export --run 2 --format parquet -o run2
        tater-graph export --node 57 --depth 2 --format dot
        tater-graph export --problem 1 --format html -o p1.html
    """
    from tater_graph import export as exporting
    from tater_graph.export.html import write_html
    from tater_graph.store.database import Database

    with Database(ctx.db, read_only=True) as db:
        selection = _select(db, problem_ids, run_id, node_id, depth, direction, dataset, namespace, limit)
        path = output or Path(f"{selection.name}.{fmt}")
        if fmt in TABLE_FORMATS:
            files = exporting.write_tables(db, selection, path, fmt)
            nodes, edges = (_count(db, query) for query in (selection.nodes_query(), selection.edges_query()))
        elif fmt == "html":
            graph = exporting.build_graph(db, selection)
            files = (write_html(graph, path),)
            nodes, edges = graph.number_of_nodes(), graph.number_of_edges()
        else:
            result = exporting.export_selection(db, selection, path, fmt)
            files, nodes, edges = (result.path,), result.nodes, result.edges

    rows = [(str(file), fmt, nodes, edges) for file in files]
    if as_json:
        print_rows(["file", "format", "nodes", "edges"], rows, "json")
    else:
        for file in files:
            stderr.print(f"Wrote {nodes} nodes and {edges} edges of {selection.name} to {file}")


def _select(db, problem_ids, run_id, node_id, depth, direction, dataset, namespace, limit):
    from tater_graph import export as exporting

    by_filter = dataset is not None or namespace is not None
    chosen = [name for name, used in (("--problem", bool(problem_ids) and not by_filter), ("--run", run_id is not None),
                                      ("--node", node_id is not None), ("--dataset/--namespace", by_filter)) if used]
    if len(chosen) != 1:
        options = ", ".join(chosen) if chosen else "none"
        raise click.UsageError(
            f"choose exactly one of --problem, --run, --node or --dataset/--namespace (given: {options})")
    if limit is not None and not by_filter:
        raise click.UsageError("--limit applies only with --dataset or --namespace")

    if run_id is not None:
        return exporting.select_run(db, run_id)
    if node_id is not None:
        return exporting.select_neighbourhood(db, node_id, depth, direction)
    if by_filter or len(problem_ids) > 1:
        return exporting.select_problems(db, problem_ids=problem_ids, dataset=dataset, namespace=namespace,
                                         limit=limit)
    return exporting.select_problem(db, problem_ids[0])


def _count(db, query: tuple[str, list]) -> int:
    sql, params = query
    return db.cursor().execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0]
