"""Write networkx graphs as GraphML, GEXF, node-link JSON or DOT, atomically.

Each format gets a sanitized copy of the graph, because each one stores
fewer kinds of value than a networkx attribute can hold:

- GraphML and GEXF: no None (the attribute is left out of that node or edge),
  one type per attribute name (mixed int and float become float, any other
  mix becomes str), lists and dicts JSON-encoded, numpy scalars as Python
  numbers, carriage returns as newlines and characters that XML 1.0 forbids
  removed.
- Node-link JSON: numpy scalars as Python numbers, tuples as lists, NaN and
  infinity as null (JSON has neither). Lists and dicts stay JSON values.
- DOT: node ids ``n<id>`` (the original id is kept in the ``node_id``
  attribute), every string quoted with ``\\``, ``"`` and line breaks escaped,
  lists and dicts JSON-encoded, None left out, the step text in ``label``.

The whole graph and its sanitized copy are in memory while writing.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import networkx as nx
import pydot

from tater_graph.errors import ConfigError
from tater_graph.export.atomic import atomic_paths

FORMATS = ("graphml", "gexf", "json", "dot")

# Characters outside the XML 1.0 Char production (https://www.w3.org/TR/xml/#charsets).
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_graph(graph: nx.DiGraph, path: str | os.PathLike[str], fmt: str) -> Path:
    """Write ``graph`` to ``path`` in format ``fmt``; a failure leaves no partial file.

    Raises:
        ConfigError: ``fmt`` is not one of :data:`FORMATS`.
        ExportError: the output folder does not exist.
    """
    writers: dict[str, Callable[[nx.DiGraph, Path], None]] = {
        "graphml": _write_graphml, "gexf": _write_gexf, "json": _write_node_link, "dot": _write_dot,
    }
    if fmt not in writers:
        raise ConfigError(f"unknown graph format {fmt!r}: use one of {', '.join(FORMATS)}")
    path = Path(path)
    with atomic_paths([path]) as (temporary,):
        writers[fmt](graph, temporary)
    return path


def _write_graphml(graph: nx.DiGraph, path: Path) -> None:
    nx.write_graphml(sanitize_for_xml(graph), path, encoding="utf-8")


def _write_gexf(graph: nx.DiGraph, path: Path) -> None:
    nx.write_gexf(sanitize_for_xml(graph), path, encoding="utf-8")


def _write_node_link(graph: nx.DiGraph, path: Path) -> None:
    data = nx.node_link_data(_map_attributes(graph, _json_value), edges="edges")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, allow_nan=False)


def _write_dot(graph: nx.DiGraph, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(to_pydot(graph).to_string())


# --- Sanitizing -------------------------------------------------------------------------------------------------


def _plain(value: object) -> object:
    """Return ``value`` with numpy scalars as Python numbers and tuples as lists."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    if isinstance(value, tuple):
        return list(value)
    return value


def _json_value(value: object) -> object:
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


def _xml_text(value: str) -> str:
    return _XML_INVALID.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def _xml_value(value: object) -> object:
    """Return ``value`` as a bool, int, float or str that GraphML and GEXF can hold, or None to leave it out."""
    value = _plain(value)
    if isinstance(value, (list, dict)):
        value = json.dumps(_json_value(value), ensure_ascii=False)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _xml_text(str(value))


def _kind(value: object) -> str:
    return "bool" if isinstance(value, bool) else type(value).__name__


def _unify(records: Iterable[dict]) -> None:
    """Convert, in place, each attribute name's values to one type across ``records``."""
    records = list(records)
    kinds: dict[str, set[str]] = {}
    for record in records:
        for key, value in record.items():
            kinds.setdefault(key, set()).add(_kind(value))

    for key, found in kinds.items():
        if len(found) == 1:
            continue
        convert = float if found <= {"bool", "int", "float"} else str
        for record in records:
            if key in record:
                record[key] = _xml_text(convert(record[key])) if convert is str else convert(record[key])


def sanitize_for_xml(graph: nx.DiGraph) -> nx.DiGraph:
    """Return a copy of ``graph`` that GraphML and GEXF can store (see the module docstring)."""
    clean = _map_attributes(graph, _xml_value)
    for records in ([clean.graph], [data for _, data in clean.nodes(data=True)],
                    [data for _, _, data in clean.edges(data=True)]):
        for record in records:
            for key in [key for key, value in record.items() if value is None]:
                del record[key]
        _unify(records)
    return clean


def _map_attributes(graph: nx.DiGraph, convert: Callable[[object], object]) -> nx.DiGraph:
    clean = graph.__class__()
    clean.graph.update({key: convert(value) for key, value in graph.graph.items()})
    clean.add_nodes_from((node, {key: convert(value) for key, value in data.items()})
                         for node, data in graph.nodes(data=True))
    clean.add_edges_from((u, v, {key: convert(value) for key, value in data.items()})
                         for u, v, data in graph.edges(data=True))
    return clean


# --- DOT --------------------------------------------------------------------------------------------------------

_DOT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def dot_quote(text: str) -> str:
    """Return ``text`` as a quoted DOT string whose label shows it unchanged.

    Backslashes are doubled (Graphviz reads ``\\l``, ``\\N`` and the like as
    escapes in labels), quotes escaped and line breaks written as ``\\n``.

    >>> print(dot_quote('a "b"\\n\\\\frac{1}{2}'))
    "a \\"b\\"\\n\\\\frac{1}{2}"
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def _dot_value(value: object) -> str | None:
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return repr(value)
    if isinstance(value, (list, dict)):
        value = json.dumps(_json_value(value), ensure_ascii=False)
    return dot_quote(str(value))


def _dot_attributes(data: dict) -> dict[str, str]:
    attributes = {}
    for key, value in data.items():
        text = _dot_value(value)
        if text is None:
            continue
        # An attribute name that is not a plain DOT ID is quoted as well.
        attributes[key if _DOT_NAME.fullmatch(key) else dot_quote(key)] = text
    return attributes


def to_pydot(graph: nx.DiGraph) -> pydot.Dot:
    """Convert ``graph`` to a ``pydot.Dot`` with DOT-safe ids and escaped labels."""
    dot = pydot.Dot("steps", graph_type="digraph" if graph.is_directed() else "graph")
    for key, value in _dot_attributes(graph.graph).items():
        dot.set(key, value)

    names = {}
    for position, (node, data) in enumerate(graph.nodes(data=True)):
        names[node] = f"n{node}" if isinstance(node, int) and node >= 0 else f"v{position}"
        attributes = _dot_attributes({"node_id": node, **data})
        if "step_text" in data and "label" not in data:
            attributes["label"] = attributes.pop("step_text", dot_quote(""))
        dot.add_node(pydot.Node(names[node], **attributes))

    for u, v, data in graph.edges(data=True):
        dot.add_edge(pydot.Edge(names[u], names[v], **_dot_attributes(data)))
    return dot
