"""Write a step graph as one self-contained HTML page that opens offline.

The page inlines Cytoscape.js (``static/cytoscape.min.js``, MIT licence in
``static/LICENSE-cytoscape``) and the graph as JSON, and its Content Security
Policy forbids every network request. Nodes are coloured by value (red 0 to
green 1) and sized by visits. Terminal nodes get a thick border coloured by
correctness, and their answer in the label. Clicking a node shows its full
step text and statistics. The page sets ``window.taterGraph`` to the
Cytoscape instance, so a test or the browser console can inspect it.
"""

from __future__ import annotations

import html
import json
import math
import os
from importlib import resources
from pathlib import Path
from string import Template

import networkx as nx

from tater_graph.errors import ExportError
from tater_graph.export.atomic import atomic_paths

# Cytoscape's breadthfirst layout stays responsive to a few thousand nodes;
# larger selections are better explored as a neighbourhood or in Gephi.
HTML_MAX_NODES = 5000
LABEL_CHARS = 40
# Red, yellow and green of ColorBrewer's RdYlGn scale, for node values 0, 0.5 and 1.
VALUE_COLOURS = ((0xD7, 0x30, 0x27), (0xFE, 0xE0, 0x8B), (0x1A, 0x98, 0x50))
STAT_NAMES = ("node_id", "problem_id", "depth", "visits", "graded", "successes", "value", "terminal_visits",
              "terminal_graded", "terminal_correct", "correct", "answer", "score", "scores")


def write_html(graph: nx.DiGraph, path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Write ``graph`` as an offline HTML view; a failure leaves no partial file.

    Raises:
        ExportError: the graph has more than :data:`HTML_MAX_NODES` nodes, or the output folder is missing.
    """
    if graph.number_of_nodes() > HTML_MAX_NODES:
        raise ExportError(f"graph has {graph.number_of_nodes()} nodes, more than the HTML view shows "
                          f"({HTML_MAX_NODES}): export one problem or a node neighbourhood, or use --format gexf")
    path = Path(path)
    page = render_html(graph, title)
    with atomic_paths([path]) as (temporary,):
        temporary.write_text(page, encoding="utf-8")
    return path


def render_html(graph: nx.DiGraph, title: str | None = None) -> str:
    """Return the HTML page for ``graph`` as a string."""
    static = resources.files("tater_graph.export") / "static"
    template = Template((static / "view.html").read_text(encoding="utf-8"))
    library = (static / "cytoscape.min.js").read_text(encoding="utf-8")
    if title is None:
        title = _default_title(graph)

    payload = {
        "title": title,
        "question": graph.graph.get("question"),
        "roots": [str(node) for node, degree in graph.in_degree() if degree == 0],
        "stat_names": list(STAT_NAMES),
        "elements": _elements(graph),
    }
    return template.substitute(title=html.escape(title), data=_script_json(payload), library=library)


def _default_title(graph: nx.DiGraph) -> str:
    attributes = graph.graph
    if "problem_id" in attributes and "question" in attributes:
        gold = attributes.get("gold_answer")
        return f"Problem {attributes['problem_id']}" + (f" (gold answer {gold})" if gold is not None else "")
    if "run_id" in attributes:
        return f"Run {attributes['run_id']}"
    return "Step graph"


def _elements(graph: nx.DiGraph) -> list[dict]:
    max_visits = max((data.get("visits") or 0 for _, data in graph.nodes(data=True)), default=0) or 1
    max_traversals = max((data.get("traversals") or 0 for _, _, data in graph.edges(data=True)), default=0) or 1
    elements = []
    for node, data in graph.nodes(data=True):
        elements.append({"data": _node_data(node, data, max_visits)})
    for u, v, data in graph.edges(data=True):
        traversals = data.get("traversals") or 0
        elements.append({"data": {
            "id": f"e{u}-{v}", "source": str(u), "target": str(v), "traversals": traversals,
            "width": round(1 + 5 * math.sqrt(traversals / max_traversals), 2),
        }})
    return elements


def _node_data(node: object, data: dict, max_visits: int) -> dict:
    visits = data.get("visits") or 0
    text = data.get("step_text") or ""
    terminal = bool(data.get("terminal"))
    correct = data.get("correct")
    label = text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "\u2026"
    if terminal:
        mark = {True: "\u2713", False: "\u2717"}.get(correct, "?")
        label = f"{mark} {data.get('answer') if data.get('answer') is not None else 'no answer'}"
    stats = {"node_id": node, **{key: data[key] for key in STAT_NAMES if key in data}}
    return {
        "id": str(node), "label": label, "text": text, "depth": data.get("depth"), "terminal": terminal,
        "correctness": {True: "correct", False: "wrong"}.get(correct, "unknown"),
        "value": data.get("value", 0.5), "color": value_colour(data.get("value")), "visits": visits,
        "size": round(16 + 44 * math.sqrt(visits / max_visits), 2), "stats": _json_safe(stats),
    }


def value_colour(value: float | None) -> str:
    """Return the CSS colour of a node value in [0, 1], or grey when the value is missing.

    >>> value_colour(0.0), value_colour(0.5), value_colour(1.0)
    ('#d73027', '#fee08b', '#1a9850')
    """
    if value is None or not math.isfinite(value):
        return "#bbbbbb"
    value = min(max(value, 0.0), 1.0)
    low, high = (VALUE_COLOURS[0], VALUE_COLOURS[1]) if value <= 0.5 else (VALUE_COLOURS[1], VALUE_COLOURS[2])
    fraction = value * 2 if value <= 0.5 else value * 2 - 1
    channels = (round(a + (b - a) * fraction) for a, b in zip(low, high))
    return "#" + "".join(f"{channel:02x}" for channel in channels)


def _json_safe(value: object) -> object:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def _script_json(payload: dict) -> str:
    """Return JSON that is safe inside a ``<script>`` element (no ``</script>``, no U+2028 or U+2029)."""
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
