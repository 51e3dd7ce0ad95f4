"""Read-only SQL over a step graph, for users."""

from tater_graph.sql.sandbox import check_query, run_query

__all__ = ["check_query", "run_query"]
