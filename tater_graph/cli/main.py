"""The command group, shared options and error handling."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler

from tater_graph import __version__
from tater_graph.errors import TaterGraphError
from tater_graph.store.database import DB_ENV_VAR, DEFAULT_DB_PATH

stderr = Console(stderr=True)


class Context:
    """Options of the group, passed to every command."""

    def __init__(self, db: Path, debug: bool):
        self.db = db
        self.debug = debug


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), envvar=DB_ENV_VAR, default=DEFAULT_DB_PATH,
              show_default=True, help=f"DuckDB file of the step graph (or set ${DB_ENV_VAR}).")
@click.option("-v", "--verbose", count=True, help="Log more: -v for progress milestones, -vv for every step.")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.version_option(__version__, prog_name="tater-graph")
@click.pass_context
def cli(ctx: click.Context, db: Path, verbose: int, debug: bool) -> None:
    """tater-graph: a step-level reasoning-graph database for test-time search.

    Search with a local GGUF model, keep every reasoning step in a DAG per
    problem, query it with SQL and export it.

    \b
    Example:
        tater-graph search --dataset gsm8k --limit 20 --n 8
        tater-graph sql "SELECT count(*) FROM nodes"
    """
    levels = {0: logging.WARNING, 1: logging.INFO}
    level = levels.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=stderr, show_path=False)])
    ctx.obj = Context(db, debug)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Run the CLI, turning project errors into ``Error: ...`` and exit code 1."""
    debug = "--debug" in sys.argv
    # SIGTERM (a job scheduler's stop) ends a search like Ctrl-C: the run is marked interrupted.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        stderr.print("Aborted.")
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except TaterGraphError as error:
        if debug:
            raise
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        stderr.print("Interrupted: every problem finished before the interrupt is saved.")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
