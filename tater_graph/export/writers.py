"""Write graphs as GraphML, GEXF, node-link JSON or DOT, one node or edge at a time.

Every writer takes :class:`GraphRows`: the graph attributes, the declared
type of each node and edge attribute, and iterables of nodes and edges. The
rows may come from a networkx graph (:func:`write_graph`) or straight from
DuckDB (:func:`tater_graph.export.build.export_selection`), so memory stays
bounded when exporting from the store. Values are sanitized per format as
:mod:`tater_graph.export.sanitize` describes. DOT node ids are ``n<id>``
(the original id is kept in the ``node_id`` attribute) and the step text is
the ``label``. Files are written to a temporary name and renamed.

The XML is written as text, because ElementTree would keep the whole
document in memory. networkx's ``read_graphml`` and ``read_gexf`` read it
back (see the round-trip tests).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import networkx as nx
import pydot

from tater_graph.errors import ConfigError
from tater_graph.export.atomic import atomic_paths
from tater_graph.export.sanitize import (
    dot_attributes, dot_quote, json_value, scan_types, xml_escape_attribute, xml_escape_text, xml_typed_text,
)

FORMATS = ("graphml", "gexf", "json", "dot")

_GRAPHML_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
_GEXF_NS = "http://www.gexf.net/1.2draft"


@dataclass
class GraphRows:
    """A graph as attributes and single-pass iterables, for the streaming writers.

    Attributes:
        graph_attributes: attributes of the whole graph.
        node_types: declared type (bool, int, float or str) of each node attribute, for GraphML and GEXF.
        edge_types: declared type of each edge attribute.
        nodes: ``(node id, attributes)`` pairs, read once.
        edges: ``(source id, target id, attributes)`` triples, read once after the nodes.
        directed: whether edges have a direction.
    """

    graph_attributes: dict
    node_types: dict[str, type]
    edge_types: dict[str, type]
    nodes: Iterable[tuple[object, dict]]
    edges: Iterable[tuple[object, object, dict]]
    directed: bool = True


@dataclass(frozen=True)
class WriteResult:
    """The written file and how many nodes and edges it holds."""

    path: Path
    nodes: int
    edges: int


def rows_from_graph(graph: nx.Graph) -> GraphRows:
    """Return the rows of an in-memory networkx graph, after one pass that finds each attribute's type."""
    return GraphRows(
        graph_attributes=dict(graph.graph),
        node_types=scan_types(data for _, data in graph.nodes(data=True)),
        edge_types=scan_types(data for _, _, data in graph.edges(data=True)),
        nodes=graph.nodes(data=True),
        edges=graph.edges(data=True),
        directed=graph.is_directed(),
    )


def write_graph(graph: nx.Graph, path: str | os.PathLike[str], fmt: str) -> Path:
    """Write ``graph`` to ``path`` in format ``fmt``; a failure leaves no partial file.

    Raises:
        ConfigError: ``fmt`` is not one of :data:`FORMATS`.
        ExportError: the output folder does not exist.
    """
    return write_rows(rows_from_graph(graph), path, fmt).path


def write_rows(rows: GraphRows, path: str | os.PathLike[str], fmt: str) -> WriteResult:
    """Write ``rows`` to ``path`` in format ``fmt``; a failure leaves no partial file.

    Raises:
        ConfigError: ``fmt`` is not one of :data:`FORMATS`.
        ExportError: the output folder does not exist.
    """
    writers: dict[str, Callable[[GraphRows, IO[str]], tuple[int, int]]] = {
        "graphml": _write_graphml, "gexf": _write_gexf, "json": _write_node_link, "dot": _write_dot,
    }
    if fmt not in writers:
        raise ConfigError(f"unknown graph format {fmt!r}: use one of {', '.join(FORMATS)}")
    path = Path(path)
    with atomic_paths([path]) as (temporary,):
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            nodes, edges = writers[fmt](rows, handle)
    return WriteResult(path, nodes, edges)


# --- GraphML ----------------------------------------------------------------------------------------------------


def _graphml_data(data: dict, keys: dict[str, tuple[str, type]]) -> str:
    parts = []
    for name, value in data.items():
        if name not in keys:
            continue
        key, kind = keys[name]
        text = xml_typed_text(value, kind)
        if text is not None:
            parts.append(f'<data key="{key}">{xml_escape_text(text)}</data>')
    return "".join(parts)


def _write_graphml(rows: GraphRows, out: IO[str]) -> tuple[int, int]:
    graph_types = scan_types([rows.graph_attributes])
    scopes = (("graph", "g", graph_types), ("node", "n", rows.node_types), ("edge", "e", rows.edge_types))
    keys = {scope: {name: (f"{prefix}{i}", kind) for i, (name, kind) in enumerate(types.items())}
            for scope, prefix, types in scopes}

    out.write("<?xml version='1.0' encoding='utf-8'?>\n")
    out.write(f'<graphml xmlns="{_GRAPHML_NS}" xmlns:xsi="{_XSI}" '
              f'xsi:schemaLocation="{_GRAPHML_NS} {_GRAPHML_NS}/1.0/graphml.xsd">\n')
    for scope, declared in keys.items():
        for name, (key, kind) in declared.items():
            out.write(f'<key id="{key}" for="{scope}" attr.name="{xml_escape_attribute(name)}" '
                      f'attr.type="{_GRAPHML_TYPES[kind]}"/>\n')
    out.write(f'<graph edgedefault="{"directed" if rows.directed else "undirected"}">\n')
    out.write(_graphml_data(rows.graph_attributes, keys["graph"]) + "\n")

    nodes = edges = 0
    for node, data in rows.nodes:
        out.write(f'<node id="{xml_escape_attribute(str(node))}">{_graphml_data(data, keys["node"])}</node>\n')
        nodes += 1
    for source, target, data in rows.edges:
        out.write(f'<edge source="{xml_escape_attribute(str(source))}" target="{xml_escape_attribute(str(target))}">'
                  f'{_graphml_data(data, keys["edge"])}</edge>\n')
        edges += 1
    out.write("</graph>\n</graphml>\n")
    return nodes, edges


# --- GEXF -------------------------------------------------------------------------------------------------------


def _gexf_values(data: dict, ids: dict[str, tuple[int, type]]) -> str:
    parts = []
    for name, value in data.items():
        if name not in ids:
            continue
        number, kind = ids[name]
        text = xml_typed_text(value, kind)
        if text is not None:
            parts.append(f'<attvalue for="{number}" value="{xml_escape_attribute(text)}"/>')
    return f"<attvalues>{''.join(parts)}</attvalues>" if parts else ""


def _gexf_label(node: object, data: dict) -> str:
    """Return the node label Gephi shows: ``label`` if set, else the step text, else the id."""
    for name in ("label", "step_text"):
        text = xml_typed_text(data.get(name), str)
        if text:
            return text
    return str(node)


def _write_gexf(rows: GraphRows, out: IO[str]) -> tuple[int, int]:
    # GEXF keeps ``label`` on the element itself, so it is not declared as an attribute.
    node_ids = {name: (i, kind) for i, (name, kind) in enumerate(rows.node_types.items()) if name != "label"}
    edge_ids = {name: (i, kind) for i, (name, kind) in enumerate(rows.edge_types.items(), start=len(node_ids))}
    description = json.dumps(json_value(rows.graph_attributes), ensure_ascii=False)

    out.write("<?xml version='1.0' encoding='utf-8'?>\n")
    out.write(f'<gexf xmlns="{_GEXF_NS}" xmlns:xsi="{_XSI}" xsi:schemaLocation="{_GEXF_NS} {_GEXF_NS}/gexf.xsd" '
              'version="1.2">\n')
    out.write(f"<meta><creator>tater-graph</creator><description>{xml_escape_text(xml_typed_text(description, str))}"
              "</description></meta>\n")
    out.write(f'<graph defaultedgetype="{"directed" if rows.directed else "undirected"}" mode="static">\n')
    for scope, ids in (("node", node_ids), ("edge", edge_ids)):
        out.write(f'<attributes class="{scope}" mode="static">')
        for name, (number, kind) in ids.items():
            out.write(f'<attribute id="{number}" title="{xml_escape_attribute(name)}" type="{_GRAPHML_TYPES[kind]}"/>')
        out.write("</attributes>\n")

    nodes = edges = 0
    out.write("<nodes>\n")
    for node, data in rows.nodes:
        out.write(f'<node id="{xml_escape_attribute(str(node))}" label="{xml_escape_attribute(_gexf_label(node, data))}">'
                  f"{_gexf_values(data, node_ids)}</node>\n")
        nodes += 1
    out.write("</nodes>\n<edges>\n")
    for source, target, data in rows.edges:
        out.write(f'<edge id="{edges}" source="{xml_escape_attribute(str(source))}" '
                  f'target="{xml_escape_attribute(str(target))}">{_gexf_values(data, edge_ids)}</edge>\n')
        edges += 1
    out.write("</edges>\n</graph>\n</gexf>\n")
    return nodes, edges


# --- Node-link JSON ---------------------------------------------------------------------------------------------


def _dump(value: object) -> str:
    return json.dumps(json_value(value), ensure_ascii=False, allow_nan=False)


def _write_node_link(rows: GraphRows, out: IO[str]) -> tuple[int, int]:
    """Write the layout of ``networkx.node_link_data(graph, edges="edges")``, one node or edge a line."""
    out.write(f'{{"directed": {_dump(rows.directed)}, "multigraph": false, "graph": {_dump(rows.graph_attributes)}, '
              '"nodes": [')
    nodes = edges = 0
    for node, data in rows.nodes:
        out.write(("," if nodes else "") + "\n" + _dump({**data, "id": node}))
        nodes += 1
    out.write('\n], "edges": [')
    for source, target, data in rows.edges:
        out.write(("," if edges else "") + "\n" + _dump({**data, "source": source, "target": target}))
        edges += 1
    out.write("\n]}\n")
    return nodes, edges


# --- DOT --------------------------------------------------------------------------------------------------------


def dot_name(node: object) -> str:
    """Return the DOT id of ``node``: ``n<id>`` for non-negative integers, else a quoted ``n:<id>``."""
    if isinstance(node, int) and not isinstance(node, bool) and node >= 0:
        return f"n{node}"
    return dot_quote(f"n:{node}")


def _write_dot(rows: GraphRows, out: IO[str]) -> tuple[int, int]:
    # pydot formats every statement. An edge prints -> or -- by the type of its parent graph.
    parent = pydot.Dot("steps", graph_type="digraph" if rows.directed else "graph")
    out.write(f"{parent.get_graph_type()} steps {{\n")
    for key, value in dot_attributes(rows.graph_attributes).items():
        out.write(f"{key}={value};\n")

    nodes = edges = 0
    for node, data in rows.nodes:
        attributes = dot_attributes({"node_id": node, **data})
        if "step_text" in attributes and "label" not in attributes:
            attributes["label"] = attributes.pop("step_text")
        out.write(pydot.Node(dot_name(node), **attributes).to_string() + "\n")
        nodes += 1
    for source, target, data in rows.edges:
        edge = pydot.Edge(dot_name(source), dot_name(target), **dot_attributes(data))
        edge.set_parent_graph(parent)
        out.write(edge.to_string() + "\n")
        edges += 1
    out.write("}\n")
    return nodes, edges
