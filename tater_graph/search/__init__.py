"""Search strategies, one module each, looked up by name in :data:`STRATEGIES`."""

from __future__ import annotations

from tater_graph.errors import ConfigError
from tater_graph.search.best_of_n import best_of_n
from tater_graph.search.common import SearchConfig

STRATEGIES = {"best-of-n": best_of_n}


def get_strategy(name: str):
    """Return the search function registered as ``name``."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown search strategy {name!r}: use one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


__all__ = ["STRATEGIES", "SearchConfig", "best_of_n", "get_strategy"]
