"""Graph selections and writers: each format read back by its usual reader must match the store."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from xml.etree import ElementTree

import duckdb
import networkx as nx
import numpy as np
import pyarrow.csv
import pyarrow.parquet
import pydot
import pytest
from export_fixtures import QUESTION, TRICKY_STEPS, build_tricky_graph

from tater_graph.errors import ConfigError, ExportError, NotFoundError
from tater_graph.export import (
    build_graph, export_selection, neighbourhood_graph, problem_graph, problems_graph, run_graph, select_problem,
    select_run, write_graph, write_tables,
)
from tater_graph.export.tables import table_paths
from tater_graph.store.database import Database

# Attributes that GraphML and GEXF read back with the stored Python type.
SCALAR_ATTRIBUTES = ("problem_id", "depth", "step_text", "step_norm", "visits", "graded", "successes", "value",
                     "terminal", "terminal_visits", "terminal_graded", "terminal_correct", "correct", "answer",
                     "score")


@pytest.fixture(params=["graph", "store"])
def write_problem(request, tricky):
    """Write the tricky problem from the networkx graph, or streamed from the store."""
    db, graph, problem_id, _ = tricky

    def write(path, fmt):
        if request.param == "graph":
            return write_graph(graph, path, fmt)
        return export_selection(db, select_problem(db, problem_id), path, fmt).path

    return write


@pytest.fixture
def tricky(tmp_path):
    """The read-only database, the problem's graph, and the problem and run ids."""
    problem_id, run_id = build_tricky_graph(tmp_path / "graph.duckdb")
    with Database(tmp_path / "graph.duckdb", read_only=True) as db:
        yield db, problem_graph(db, problem_id), problem_id, run_id


def _expected_node(data: dict) -> dict:
    """The node attributes as a lossless reader returns them: None left out, scores JSON-encoded."""
    expected = {key: value for key, value in data.items() if value is not None and key != "scores"}
    expected["scores"] = json.dumps(data["scores"], ensure_ascii=False)
    return expected


def test_problem_graph_has_stored_attributes(tricky):
    _, graph, problem_id, _ = tricky

    assert graph.number_of_nodes() == 8
    assert graph.number_of_edges() == 7
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.graph["question"] == QUESTION
    texts = {data["step_text"] for _, data in graph.nodes(data=True)}
    assert set(TRICKY_STEPS) <= texts

    scored = next(data for _, data in graph.nodes(data=True) if data["step_text"] == TRICKY_STEPS[2])
    assert scored["scores"] == {"arithmetic": 1.0, "self-eval": 0.25}
    assert scored["terminal"] is True
    assert scored["correct"] is True
    assert scored["answer"] == "1.5"
    root = next(data for _, data in graph.nodes(data=True) if data["depth"] == 0)
    assert root["visits"] == 5
    assert root["terminal"] is False


def test_terminal_without_grade_has_no_correctness(tricky):
    _, graph, _, _ = tricky

    node = next(data for _, data in graph.nodes(data=True) if data["step_text"] == "Triple it: 3 * 2 = 6.")

    assert node["terminal"] is True
    assert node["correct"] is None
    assert node["visits"] == 2


def test_edges_carry_traversal_counts(tricky):
    _, graph, _, _ = tricky

    root = next(node for node, data in graph.nodes(data=True) if data["depth"] == 0)
    first = next(node for node, data in graph.nodes(data=True) if data["step_text"] == TRICKY_STEPS[0])

    assert graph.edges[root, first]["traversals"] == 4
    assert sum(data["traversals"] for _, _, data in graph.out_edges(root, data=True)) == 5


def test_run_graph_keeps_only_run_nodes(tricky):
    db, graph, _, run_id = tricky

    run = run_graph(db, run_id)

    texts = {data["step_text"] for _, data in run.nodes(data=True)}
    assert "Guess: 4 cups." not in texts
    assert set(TRICKY_STEPS) <= texts
    assert run.number_of_nodes() == 7
    assert run.graph["run_id"] == run_id
    assert all(graph.has_edge(u, v) for u, v in run.edges)


def test_neighbourhood_depth_and_direction(tricky):
    db, graph, _, _ = tricky
    first = next(node for node, data in graph.nodes(data=True) if data["step_text"] == TRICKY_STEPS[0])

    both = neighbourhood_graph(db, first, depth=1)
    down = neighbourhood_graph(db, first, depth=5, direction="out")
    up = neighbourhood_graph(db, first, depth=5, direction="in")
    alone = neighbourhood_graph(db, first, depth=0)

    assert set(both) == {first} | set(graph.predecessors(first)) | set(graph.successors(first))
    assert set(down) == {first} | nx.descendants(graph, first)
    assert set(up) == {first} | nx.ancestors(graph, first)
    assert list(alone) == [first]


def test_problems_filter_unions_dags(tricky):
    db, graph, problem_id, _ = tricky

    assert set(problems_graph(db, dataset="test")) == set(graph)
    assert set(problems_graph(db, problem_ids=(problem_id,), limit=1)) == set(graph)
    with pytest.raises(NotFoundError, match="dataset='gsm8k'"):
        problems_graph(db, dataset="gsm8k")


@pytest.mark.parametrize("call, message", [
    (lambda db: problem_graph(db, 999), "problem 999 not found"),
    (lambda db: run_graph(db, 999), "run 999 not found"),
    (lambda db: neighbourhood_graph(db, 999), "node 999 not found"),
])
def test_missing_ids_raise_not_found(tricky, call, message):
    db = tricky[0]

    with pytest.raises(NotFoundError, match=message):
        call(db)


def test_invalid_neighbourhood_arguments(tricky):
    db = tricky[0]

    with pytest.raises(ConfigError, match="invalid neighbourhood depth -1"):
        neighbourhood_graph(db, 1, depth=-1)
    with pytest.raises(ConfigError, match="invalid direction 'up'"):
        neighbourhood_graph(db, 1, direction="up")


def test_graphml_round_trip(tricky, write_problem, tmp_path):
    _, graph, _, _ = tricky

    path = write_problem(tmp_path / "g.graphml", "graphml")
    back = nx.read_graphml(path, node_type=int)

    assert back.number_of_nodes() == graph.number_of_nodes()
    assert back.number_of_edges() == graph.number_of_edges()
    for node, data in graph.nodes(data=True):
        assert back.nodes[node] == _expected_node(data)
    for u, v, data in graph.edges(data=True):
        assert back.edges[u, v] == data
    assert back.graph["question"] == QUESTION


def test_gexf_round_trip(tricky, write_problem, tmp_path):
    _, graph, _, _ = tricky

    path = write_problem(tmp_path / "g.gexf", "gexf")
    back = nx.read_gexf(path, node_type=int)

    assert back.number_of_nodes() == graph.number_of_nodes()
    assert back.number_of_edges() == graph.number_of_edges()
    for node, data in graph.nodes(data=True):
        read = {key: value for key, value in back.nodes[node].items() if key != "label"}
        assert read == _expected_node(data)
        assert back.nodes[node]["label"] == (data["step_text"] or str(node))
    for u, v, data in graph.edges(data=True):
        read = {key: value for key, value in back.edges[u, v].items() if key != "id"}
        assert read == data


def test_node_link_json_round_trip(tricky, write_problem, tmp_path):
    _, graph, _, _ = tricky

    path = write_problem(tmp_path / "g.json", "json")
    back = nx.node_link_graph(json.loads(path.read_text(encoding="utf-8")), edges="edges")

    assert back.is_directed()
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
    assert {(u, v): d for u, v, d in back.edges(data=True)} == {(u, v): d for u, v, d in graph.edges(data=True)}
    assert back.graph == graph.graph


def _dot_unescape(quoted: str) -> str:
    """Read a DOT quoted label as Graphviz shows it: ``\\n`` a line break, ``\\X`` the character X."""
    assert quoted.startswith('"'), quoted
    assert quoted.endswith('"'), quoted
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), quoted[1:-1], flags=re.S)


def test_dot_round_trip(tricky, write_problem, tmp_path):
    _, graph, _, _ = tricky

    path = write_problem(tmp_path / "g.dot", "dot")
    (back,) = pydot.graph_from_dot_file(str(path), encoding="utf-8")

    nodes = {node.get_name(): node.get_attributes() for node in back.get_nodes() if node.get_name() not in
             ("node", "edge", "graph")}
    assert len(nodes) == graph.number_of_nodes()
    assert len(back.get_edges()) == graph.number_of_edges()
    for node, data in graph.nodes(data=True):
        read = nodes[f"n{node}"]
        assert _dot_unescape(read["label"]) == data["step_text"]
        assert _dot_unescape(read["step_norm"]) == data["step_norm"]
        assert int(read["node_id"]) == node
        assert int(read["visits"]) == data["visits"]
        assert float(read["value"]) == data["value"]
        assert read["terminal"] == ("true" if data["terminal"] else "false")
        assert json.loads(_dot_unescape(read["scores"])) == data["scores"]
        assert ("answer" in read) == (data["answer"] is not None)
    traversals = {(e.get_source(), e.get_destination()): int(e.get_attributes()["traversals"])
                  for e in back.get_edges()}
    assert traversals == {(f"n{u}", f"n{v}"): d["traversals"] for u, v, d in graph.edges(data=True)}
    assert _dot_unescape(back.get_attributes()["question"]) == QUESTION


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed: apt-get install graphviz")
def test_graphviz_renders_dot_labels(tricky, write_problem, tmp_path):
    _, graph, _, _ = tricky
    path = write_problem(tmp_path / "g.dot", "dot")

    svg = subprocess.run(["dot", "-Tsvg", str(path)], check=True, capture_output=True, text=True).stdout
    shown = [element.text for element in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]

    # Graphviz draws each line of a label as one text element; the root's label is empty.
    expected = [line for _, data in graph.nodes(data=True) if data["step_text"]
                for line in data["step_text"].split("\n")]
    assert sorted(shown) == sorted(expected)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_tables_round_trip(tricky, tmp_path, fmt):
    db, graph, problem_id, _ = tricky

    nodes_path, edges_path = write_tables(db, select_problem(db, problem_id), tmp_path / "out", fmt)
    if fmt == "parquet":
        nodes, edges = pyarrow.parquet.read_table(nodes_path), pyarrow.parquet.read_table(edges_path)
    else:
        options = pyarrow.csv.ParseOptions(newlines_in_values=True)
        nodes = pyarrow.csv.read_csv(nodes_path, parse_options=options)
        edges = pyarrow.csv.read_csv(edges_path, parse_options=options)

    assert nodes.num_rows == graph.number_of_nodes()
    assert edges.num_rows == graph.number_of_edges()
    for row in nodes.to_pylist():
        data = graph.nodes[row["node_id"]]
        assert row["step_text"] == data["step_text"] or (fmt == "csv" and row["step_text"] is None
                                                        and data["step_text"] == "")
        assert row["visits"] == data["visits"]
        assert math.isclose(row["value"], data["value"])
        assert row["terminal"] == data["terminal"]
        assert row["correct"] == data["correct"]
        assert json.loads(row["scores"]) == data["scores"]
    for row in edges.to_pylist():
        assert graph.edges[row["parent_id"], row["child_id"]]["traversals"] == row["traversals"]


def test_table_paths_drop_format_suffix(tmp_path):
    assert table_paths(tmp_path / "run.csv", "csv") == (tmp_path / "run.nodes.csv", tmp_path / "run.edges.csv")
    assert table_paths(tmp_path / "run", "csv") == (tmp_path / "run.nodes.csv", tmp_path / "run.edges.csv")


def test_sanitizing_mixed_and_numpy_values(tmp_path):
    graph = nx.DiGraph(tags=["a", "b"])
    graph.add_node(1, weight=np.float32(0.5), count=np.int64(3), mixed=1, extra={"k": [1, 2]}, empty=None)
    graph.add_node(2, weight=2, count=4, mixed="two", extra=None, empty=None)
    graph.add_edge(1, 2, weight=np.int64(7))

    back_graphml = nx.read_graphml(write_graph(graph, tmp_path / "m.graphml", "graphml"), node_type=int)
    back_gexf = nx.read_gexf(write_graph(graph, tmp_path / "m.gexf", "gexf"), node_type=int)
    back_json = json.loads(write_graph(graph, tmp_path / "m.json", "json").read_text())

    for back in (back_graphml, back_gexf):
        assert back.nodes[1]["weight"] == 0.5
        assert back.nodes[2]["weight"] == 2.0
        assert back.nodes[1]["mixed"] == "1"
        assert back.nodes[2]["mixed"] == "two"
        assert json.loads(back.nodes[1]["extra"]) == {"k": [1, 2]}
        assert "extra" not in back.nodes[2]
        assert "empty" not in back.nodes[1]
        assert back.nodes[1]["count"] == 3
    assert back_graphml.graph["tags"] == '["a", "b"]'
    assert back_json["nodes"][0]["count"] == 3
    assert back_json["nodes"][0]["extra"] == {"k": [1, 2]}
    assert back_json["graph"]["tags"] == ["a", "b"]


def test_xml_formats_drop_forbidden_characters(tmp_path):
    graph = nx.DiGraph()
    graph.add_node(1, step_text="bell\x07 and null\x00 and crlf\r\nend")

    for fmt, reader in (("graphml", nx.read_graphml), ("gexf", nx.read_gexf)):
        back = reader(write_graph(graph, tmp_path / f"x.{fmt}", fmt), node_type=int)
        assert back.nodes[1]["step_text"] == "bell and null and crlf\nend"


def test_json_writes_non_finite_as_null(tmp_path):
    graph = nx.DiGraph()
    graph.add_node(1, value=float("nan"), score=float("inf"))

    back = json.loads(write_graph(graph, tmp_path / "n.json", "json").read_text())

    assert back["nodes"][0]["value"] is None
    assert back["nodes"][0]["score"] is None


def test_unknown_format_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown graph format 'svg'"):
        write_graph(nx.DiGraph(), tmp_path / "g.svg", "svg")


def test_missing_output_folder_rejected(tmp_path):
    with pytest.raises(ExportError, match="output folder .*missing not found"):
        write_graph(nx.DiGraph(), tmp_path / "missing" / "g.graphml", "graphml")


def test_failed_write_leaves_no_file(tmp_path):
    graph = nx.DiGraph()
    graph.add_node(1, bad=object())
    target = tmp_path / "g.json"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_graph(graph, target, "json")

    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]


def test_failed_table_write_leaves_no_files(tricky, tmp_path):
    db, _, problem_id, _ = tricky
    selection = select_problem(db, problem_id)
    broken = type(selection)(selection.name, "SELECT no_such_column AS node_id FROM nodes", (), {})
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(duckdb.Error, match="no_such_column"):
        write_tables(db, broken, out / "t", "parquet")

    assert list(out.iterdir()) == []


def test_build_graph_matches_selection_nodes(tricky):
    db, _, _, run_id = tricky
    selection = select_run(db, run_id)

    graph = build_graph(db, selection)
    sql, params = selection.nodes_query()

    assert graph.number_of_nodes() == len(db.cursor().execute(sql, params).fetchall())


def test_written_file_gets_default_mode(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)

    path = write_graph(nx.DiGraph(), tmp_path / "g.json", "json")

    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
