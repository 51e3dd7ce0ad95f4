"""Read-only SQL over a step graph, for users: views, graph macros and a two-layer sandbox.

>>> from tater_graph.sql import query                                    # doctest: +SKIP
>>> query("bank.duckdb", "SELECT * FROM best_path(1)").df()              # doctest: +SKIP
"""

from tater_graph.sql.check import CheckedQuery, check_query
from tater_graph.sql.examples import read_examples
from tater_graph.sql.sandbox import SandboxLimits, open_sandbox, query, run_sandboxed

__all__ = ["CheckedQuery", "SandboxLimits", "check_query", "open_sandbox", "query", "read_examples", "run_sandboxed"]
