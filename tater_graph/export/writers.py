"""Write networkx graphs to files, atomically (temp file, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import networkx as nx

from tater_graph.errors import ConfigError

FORMATS = ("graphml", "json")


def write_graph(graph: nx.DiGraph, path: str | os.PathLike[str], fmt: str) -> Path:
    """Write ``graph`` to ``path`` in ``fmt``; a failure leaves no partial file."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    path = Path(path)
    clean = _sanitized(graph)
    handle = tempfile.NamedTemporaryFile("wb", dir=path.parent or ".", prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            if fmt == "graphml":
                nx.write_graphml(clean, handle)
            else:
                handle.write(json.dumps(nx.node_link_data(clean, edges="edges"), ensure_ascii=False).encode())
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise
    return path


def _sanitized(graph: nx.DiGraph) -> nx.DiGraph:
    """Copy of ``graph`` without None attributes (GraphML has no null)."""
    clean = nx.DiGraph(**{k: v for k, v in graph.graph.items() if v is not None})
    for node, data in graph.nodes(data=True):
        clean.add_node(node, **{k: v for k, v in data.items() if v is not None})
    for u, v, data in graph.edges(data=True):
        clean.add_edge(u, v, **{k: val for k, val in data.items() if val is not None})
    return clean
