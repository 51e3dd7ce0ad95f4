"""The HNSW index as a cache of DuckDB vectors: catch-up, rebuild, and recall."""

import json

import numpy as np
import pytest

from conftest import make_rollout
from tater_graph import Problem, StepGraph


def fill(graph, count, offset=0):
    problem = Problem(f"Problem for the index test {offset}?", "1")
    graph.ingest([make_rollout(problem, [f"step number {i} adds {i * 7} apples"]) for i in range(offset, offset + count)])


def test_reopen_loads_saved_index(db_path):
    with StepGraph.open(db_path, embedder="hashed") as graph:
        fill(graph, 20)
    with StepGraph.open(db_path) as graph:
        assert graph.index_status == "loaded"
        assert graph.index.count == 20


def test_index_behind_database_is_caught_up(db_path):
    with StepGraph.open(db_path, embedder="hashed") as graph:
        fill(graph, 10)
    sidecar = json.loads((db_path.parent / "graph.duckdb.hnsw.json").read_text())
    saved = (db_path.parent / "graph.duckdb.hnsw").read_bytes()
    saved_aliases = (db_path.parent / "graph.duckdb.hnsw.aliases").read_bytes()
    with StepGraph.open(db_path) as graph:
        fill(graph, 5, offset=10)
    # Put back the older index, as if the process died after the commit but before saving it.
    (db_path.parent / "graph.duckdb.hnsw").write_bytes(saved)
    (db_path.parent / "graph.duckdb.hnsw.aliases").write_bytes(saved_aliases)
    (db_path.parent / "graph.duckdb.hnsw.json").write_text(json.dumps(sidecar))
    with StepGraph.open(db_path) as graph:
        assert graph.index_status == "caught-up"
        assert graph.index.count == 15


@pytest.mark.parametrize("damage", ["missing", "truncated", "flipped", "sidecar-missing", "foreign"])
def test_damaged_index_is_rebuilt(tmp_path, damage, caplog):
    path = tmp_path / "graph.duckdb"
    index_file = tmp_path / "graph.duckdb.hnsw"
    with StepGraph.open(path, embedder="hashed") as graph:
        fill(graph, 30)
    if damage == "missing":
        index_file.unlink()
    elif damage == "truncated":
        index_file.write_bytes(index_file.read_bytes()[:1000])
    elif damage == "flipped":
        data = bytearray(index_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        index_file.write_bytes(bytes(data))
    elif damage == "sidecar-missing":
        (tmp_path / "graph.duckdb.hnsw.json").unlink()
    elif damage == "foreign":
        other = tmp_path / "other.duckdb"
        with StepGraph.open(other, embedder="hashed") as graph:
            fill(graph, 7)
        index_file.write_bytes((tmp_path / "other.duckdb.hnsw").read_bytes())
        (tmp_path / "graph.duckdb.hnsw.json").write_text((tmp_path / "other.duckdb.hnsw.json").read_text())

    with StepGraph.open(path) as graph:
        assert graph.index_status == "rebuilt"
        assert graph.index.count == 30


def test_index_matches_brute_force(graph):
    fill(graph, 300)
    table = graph.sql("SELECT node_id, embedding FROM node_vectors ORDER BY node_id").fetchall()
    ids = np.array([row[0] for row in table])
    vectors = np.array([row[1] for row in table], dtype=np.float32)
    queries = graph.embed([f"step number {i} adds {i * 7} pears" for i in range(0, 300, 10)])
    found, _ = graph.index.query(queries, k=10)
    similarity = queries @ vectors.T
    # Ties are common among short texts, so a hit is any id at least as close as the exact 10th neighbour.
    tenth = np.sort(similarity, axis=1)[:, -10]
    position = {node_id: i for i, node_id in enumerate(ids)}
    hits = [sum(similarity[q, position[n]] >= tenth[q] - 1e-5 for n in row) for q, row in enumerate(found)]
    assert np.mean(hits) / 10 >= 0.95
