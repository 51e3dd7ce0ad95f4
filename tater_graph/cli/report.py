"""The ``report`` command: a markdown summary and PNG plots of one run."""

from __future__ import annotations

from pathlib import Path

import click

from tater_graph.cli.main import Context, cli, stderr
from tater_graph.cli.output import print_rows

pass_context = click.make_pass_decorator(Context)


@cli.command()
@click.argument("run_id", type=int)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.md and the plots, created if missing (default: report-run-RUN_ID).")
@click.option("--json", "as_json", is_flag=True, help="Print the written files as JSON.")
@pass_context
def report(ctx: Context, run_id: int, output: Path | None, as_json: bool) -> None:
    """Write a report of run RUN_ID: accuracy, tokens, time, a per-problem table and plots.

    The plots are accuracy against tokens, tokens per problem, and the value
    distribution of the nodes the run passed through.

    \b
    Example:
        tater-graph report 1 -o report-run-1
    """
    from tater_graph.report import write_report
    from tater_graph.store.database import Database

    with Database(ctx.db, read_only=True) as db:
        files = write_report(db, run_id, output or Path(f"report-run-{run_id}"))
    if as_json:
        print_rows(["file"], [(str(file),) for file in files], "json")
    else:
        stderr.print(f"Wrote the report of run {run_id} to {files[0]} with {len(files) - 1} plots")
