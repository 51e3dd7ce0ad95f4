"""Build networkx graphs from the store and write them in common graph formats."""

from tater_graph.export.build import problem_graph
from tater_graph.export.writers import FORMATS, write_graph

__all__ = ["FORMATS", "problem_graph", "write_graph"]
