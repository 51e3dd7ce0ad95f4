"""Search strategies, one module each, looked up by name in :data:`STRATEGIES`."""

from __future__ import annotations

from tater_graph.errors import ConfigError
from tater_graph.search.beam import BeamConfig, beam_search
from tater_graph.search.best_of_n import best_of_n
from tater_graph.search.common import SearchConfig
from tater_graph.search.recycling import RecyclingConfig

STRATEGIES = {"best-of-n": best_of_n, "beam": beam_search}


def get_strategy(name: str):
    """Return the search function registered as ``name``."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown search strategy {name!r}: use one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


__all__ = ["STRATEGIES", "BeamConfig", "RecyclingConfig", "SearchConfig", "beam_search", "best_of_n", "get_strategy"]
