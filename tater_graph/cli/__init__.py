"""The ``tater-graph`` command line: a thin click layer over the library.

Each command lives in its own module and registers itself on :data:`cli`.
Data goes to stdout, messages and progress to stderr. Exit codes follow
click: 0 success, 1 error (``Error: ...``), 2 usage error.
"""

from tater_graph.cli.main import cli, main
from tater_graph.cli import commands  # noqa: F401  (registers the commands)
from tater_graph.cli import export, report  # noqa: F401
from tater_graph.cli import planner  # noqa: F401  (registers continue and experience)
from tater_graph.cli import check  # noqa: F401
from tater_graph.cli import sql  # noqa: F401
from tater_graph.cli import bank  # noqa: F401  (registers the bank commands)

__all__ = ["cli", "main"]
