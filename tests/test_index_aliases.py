"""Nodes with identical vectors share one HNSW point and come back as tied results."""

import numpy as np
import pytest

from conftest import make_rollout
from tater_graph import Problem, StepGraph
from tater_graph import index as index_module
from tater_graph.index_aliases import VectorAliases, vector_digests


def ingest_repeated_steps(graph, texts, copies):
    """Each text ends a rollout under ``copies`` different first steps, so it is ``copies`` nodes."""
    problem = Problem("How many apples are in the basket after every step?", "1")
    rollouts = [make_rollout(problem, [f"first we look at basket {copy}", text])
                for copy in range(copies) for text in texts]
    graph.ingest(rollouts)


def stored_vectors(graph):
    rows = graph.sql("SELECT node_id, embedding FROM node_vectors ORDER BY node_id").fetchall()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=np.float32)


def test_repeated_text_is_one_point(graph):
    ingest_repeated_steps(graph, ["so the total is 12 apples", "then 3 more make 15"], copies=4)
    nodes = graph.sql("SELECT count(*) FROM nodes WHERE depth > 0").fetchall()[0][0]
    assert graph.index.count == nodes == 4 + 8
    assert graph.index.point_count == 4 + 2


def test_query_returns_every_tied_node(graph):
    ingest_repeated_steps(graph, ["so the total is 12 apples", "then 3 more make 15"], copies=4)
    ids, similarities = graph.index.query(graph.embed(["so the total is 12 apples"]), k=4)
    expected = graph.sql("SELECT node_id FROM nodes WHERE step_text = 'so the total is 12 apples' ORDER BY node_id")
    assert sorted(ids[0].tolist()) == [row[0] for row in expected.fetchall()]
    assert similarities[0] == pytest.approx([1.0] * 4, abs=1e-5)


def test_query_k_capped_at_node_count(graph):
    ingest_repeated_steps(graph, ["so the total is 12 apples"], copies=3)
    ids, _ = graph.index.query(graph.embed(["total"]), k=50)
    assert ids.shape == (1, 6)
    assert len(set(ids[0].tolist())) == 6


def test_aliases_survive_reopen(db_path):
    with StepGraph.open(db_path, embedder="hashed") as graph:
        ingest_repeated_steps(graph, ["so the total is 12 apples"], copies=3)
        before = graph.index.query(graph.embed(["so the total is 12 apples"]), k=3)[0]
    with StepGraph.open(db_path) as graph:
        assert graph.index_status == "loaded"
        assert graph.index.count == 6
        after = graph.index.query(graph.embed(["so the total is 12 apples"]), k=3)[0]
    assert after.tolist() == before.tolist()


@pytest.mark.parametrize("damage", ["missing", "flipped"])
def test_damaged_aliases_file_rebuilds_index(db_path, damage):
    aliases = db_path.parent / "graph.duckdb.hnsw.aliases"
    with StepGraph.open(db_path, embedder="hashed") as graph:
        ingest_repeated_steps(graph, ["so the total is 12 apples"], copies=3)
    if damage == "missing":
        aliases.unlink()
    else:
        data = bytearray(aliases.read_bytes())
        data[len(data) // 2] ^= 0xFF
        aliases.write_bytes(bytes(data))
    with StepGraph.open(db_path) as graph:
        assert graph.index_status == "rebuilt"
        assert graph.index.count == 6
        assert graph.index.point_count == 4


def test_recall_with_many_repeats_matches_brute_force(graph):
    # Templated steps, each reached from 30 states: with every copy in hnswlib
    # (M=32) whole groups of copies become unreachable and recall was 0.91.
    texts = [f"step {i}: {i} boxes hold {i * 7} apples" for i in range(100)]
    ingest_repeated_steps(graph, texts, copies=30)
    ids, vectors = stored_vectors(graph)
    queries = graph.embed([f"step {i}: {i} boxes hold {i * 7} pears" for i in range(0, 100, 3)])

    found, _ = graph.index.query(queries, k=10)

    similarity = queries @ vectors.T
    tenth = np.sort(similarity, axis=1)[:, -10]
    position = {node_id: i for i, node_id in enumerate(ids.tolist())}
    hits = [sum(similarity[q, position[n]] >= tenth[q] - 1e-5 for n in row) for q, row in enumerate(found.tolist())]
    assert np.mean(hits) / 10 >= 0.98


def test_digest_ignores_rounding_noise_and_sign_of_zero():
    base = np.array([[0.5, 0.0, -0.25]], dtype=np.float32)
    noisy = base + np.float32(1e-8)
    negative_zero = np.array([[0.5, -0.0, -0.25]], dtype=np.float32)
    assert vector_digests(base) == vector_digests(noisy) == vector_digests(negative_zero)
    assert vector_digests(base) != vector_digests(base + np.float32(1e-3))


def test_aliases_round_trip_through_bytes(tmp_path):
    aliases = VectorAliases()
    vectors = np.eye(3, dtype=np.float32)[[0, 1, 0, 2, 1]]
    kept_ids, _ = aliases.split(np.array([10, 11, 12, 13, 14]), vectors)
    assert kept_ids.tolist() == [10, 11, 13]
    path = tmp_path / "aliases"
    path.write_bytes(aliases.to_bytes())

    loaded = VectorAliases.load(path)

    assert loaded.labels == aliases.labels
    assert loaded.aliases == {10: [12], 11: [14]}
    assert loaded.count == 5


def test_filtered_query_finds_allowed_alias(graph):
    ingest_repeated_steps(graph, ["so the total is 12 apples"], copies=3)
    tied = [row[0] for row in graph.sql(
        "SELECT node_id FROM nodes WHERE step_text = 'so the total is 12 apples' ORDER BY node_id").fetchall()]

    ids, similarities = graph.index.query(graph.embed(["so the total is 12 apples"]), k=5, allowed_ids={tied[-1]})

    assert ids.tolist() == [[tied[-1]]]
    assert similarities[0][0] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("exact_filter_max", [0, 4096])
def test_filtered_query_matches_brute_force(graph, monkeypatch, exact_filter_max):
    # 0 sends every filtered query through hnswlib's filtered search, 4096 through the exact scan.
    monkeypatch.setattr(index_module, "EXACT_FILTER_MAX", exact_filter_max)
    texts = [f"step {i}: {i} boxes hold {i * 7} apples" for i in range(40)]
    ingest_repeated_steps(graph, texts, copies=2)
    ids, vectors = stored_vectors(graph)
    allowed = set(ids[::3].tolist())
    query = graph.embed(["step 12: 12 boxes hold 84 pears"])

    found, similarities = graph.index.query(query, k=5, allowed_ids=allowed)

    allowed_ids = np.array(sorted(allowed))
    exact = np.sort(vectors[np.isin(ids, allowed_ids)] @ query[0])[::-1][:5]
    assert set(found[0].tolist()) <= allowed
    np.testing.assert_allclose(similarities[0], exact, atol=1e-5)
