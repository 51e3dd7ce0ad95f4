"""tater-graph: an embedded step-level reasoning-graph database for test-time search."""

from tater_graph.errors import TaterGraphError
from tater_graph.graph import StepGraph
from tater_graph.records import Generation, Problem, Rollout

__version__ = "0.1.0"
__all__ = ["Generation", "Problem", "Rollout", "StepGraph", "TaterGraphError", "__version__"]
