"""Build networkx graphs from the store and write them in common graph formats and tables."""

from tater_graph.export.build import (
    Selection, build_graph, export_selection, neighbourhood_graph, problem_graph, problems_graph, run_graph,
    select_neighbourhood, select_problem, select_problems, select_run,
)
from tater_graph.export.tables import TABLE_FORMATS, write_tables
from tater_graph.export.writers import FORMATS, write_graph, write_rows

__all__ = [
    "FORMATS", "TABLE_FORMATS", "Selection", "build_graph", "export_selection", "neighbourhood_graph",
    "problem_graph", "problems_graph", "run_graph", "select_neighbourhood", "select_problem", "select_problems",
    "select_run", "write_graph", "write_rows", "write_tables",
]
