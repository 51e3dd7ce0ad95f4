"""A damaged or mismatched HNSW file is caught before hnswlib loads it and rebuilt from DuckDB."""

from __future__ import annotations

import json
import logging
import shutil

import hnswlib
import numpy as np
import pytest

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.check import check_graph
from tater_graph.index import VectorIndex


def build(db_path, problems=6) -> None:
    with StepGraph.open(db_path, embedder="hashed") as graph:
        rollouts = []
        for p in range(problems):
            problem = Problem(f"What is {p} times 3?", str(3 * p))
            for r in range(4):
                rollouts.append(Rollout(problem, (f"Take {p}.", f"Multiply by {r + 2} to get {p * (r + 2)}.",
                                                  f"#### {p * (r + 2)}"), str(p * (r + 2))))
        graph.ingest(rollouts)


def paths(db_path):
    index = db_path.with_name(db_path.name + ".hnsw")
    return index, index.with_name(index.name + ".json")


def rewrite_sidecar(sidecar_path, **changes) -> None:
    data = json.loads(sidecar_path.read_text())
    data.update(changes)
    sidecar_path.write_text(json.dumps(data))


def file_sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def truncate(db_path, tmp_path):
    index, _ = paths(db_path)
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])


def corrupt(db_path, tmp_path):
    index, _ = paths(db_path)
    data = bytearray(index.read_bytes())
    data[200:264] = b"\xff" * 64
    index.write_bytes(bytes(data))


def corrupt_header_with_matching_checksum(db_path, tmp_path):
    # A forged sidecar whose checksum matches: only the header check is left to catch it.
    index, sidecar = paths(db_path)
    data = bytearray(index.read_bytes())
    data[16:24] = (10**12).to_bytes(8, "little")  # cur_element_count
    index.write_bytes(bytes(data))
    rewrite_sidecar(sidecar, sha256=file_sha256(index))


def wrong_dimension(db_path, tmp_path):
    index, sidecar = paths(db_path)
    count = json.loads(sidecar.read_text())["count"]
    small = hnswlib.Index(space="cosine", dim=128)
    small.init_index(max_elements=1024, M=16, ef_construction=200)
    small.add_items(np.random.default_rng(0).random((count, 128), dtype=np.float32), np.arange(2, count + 2))
    small.save_index(str(index))
    rewrite_sidecar(sidecar, sha256=file_sha256(index), size_bytes=index.stat().st_size)


def wrong_dimension_in_sidecar(db_path, tmp_path):
    _, sidecar = paths(db_path)
    rewrite_sidecar(sidecar, dim=128)


def wrong_count(db_path, tmp_path):
    _, sidecar = paths(db_path)
    rewrite_sidecar(sidecar, points=json.loads(sidecar.read_text())["points"] - 3)


def foreign_file(db_path, tmp_path):
    # The index of another database with the same embedder and the same number of vectors.
    other = tmp_path / "other" / "graph.duckdb"
    other.parent.mkdir()
    build(other)
    for mine, theirs in zip(paths(db_path), paths(other)):
        shutil.copyfile(theirs, mine)


def missing_sidecar(db_path, tmp_path):
    paths(db_path)[1].unlink()


def unreadable_sidecar(db_path, tmp_path):
    paths(db_path)[1].write_text("{not json")


def missing_file(db_path, tmp_path):
    paths(db_path)[0].unlink()


DAMAGE = {
    "truncated": (truncate, "truncated"),
    "corrupted": (corrupt, "checksum mismatch"),
    "corrupted header, forged checksum": (corrupt_header_with_matching_checksum, "header says"),
    "wrong dimension, forged checksum": (wrong_dimension, "header"),
    "wrong dimension in sidecar": (wrong_dimension_in_sidecar, "128-d"),
    "wrong count": (wrong_count, "header says"),
    "foreign file": (foreign_file, "foreign file"),
    "missing sidecar": (missing_sidecar, "sidecar missing"),
    "unreadable sidecar": (unreadable_sidecar, "sidecar unreadable"),
    "missing file": (missing_file, "index file missing"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_index_is_rebuilt_without_loading_it(db_path, tmp_path, monkeypatch, caplog, case):
    damage, reason = DAMAGE[case]
    build(db_path)
    damage(db_path, tmp_path)
    loads = []
    original_load = VectorIndex._load
    monkeypatch.setattr(VectorIndex, "_load", lambda self, sidecar: loads.append(sidecar) or original_load(self, sidecar))

    with caplog.at_level(logging.WARNING, logger="tater_graph.index"), StepGraph.open(db_path) as graph:
        status = graph.index_status
        ids = graph.sql("SELECT node_id, embedding FROM node_vectors ORDER BY node_id").fetchall()
        stored = np.array([row[1] for row in ids], dtype=np.float32)
        found, similarity = graph.index.query(stored, k=1)

    assert status == "rebuilt"
    assert loads == []
    assert reason in caplog.text
    assert found.shape == (len(ids), 1)
    assert similarity[:, 0].min() > 0.999  # every stored vector finds itself (or an identical one)
    assert check_graph(db_path).ok  # the index holds exactly the node_vectors ids


def test_sound_index_loads_and_catches_up(db_path):
    build(db_path)
    with StepGraph.open(db_path) as graph:
        assert graph.index_status == "loaded"
        graph.ingest([Rollout(Problem("What is 9 times 3?"), ("Take 9.", "Triple it: 27.", "#### 27"), "27")])
        graph.db.checkpoint()
        graph.index.dirty = False  # the process stops before saving the index

    with StepGraph.open(db_path) as graph:
        status = graph.index_status
        vectors = graph.sql("SELECT count(*) FROM node_vectors").fetchall()[0][0]
        indexed = graph.index.count

    assert status == "caught-up"
    assert indexed == vectors
    assert check_graph(db_path).ok


def test_index_past_database_is_rebuilt(db_path, tmp_path):
    # A database file restored from an older backup, next to a newer index.
    build(db_path, problems=2)
    backup = tmp_path / "backup.duckdb"
    shutil.copyfile(db_path, backup)
    with StepGraph.open(db_path) as graph:
        graph.ingest([Rollout(Problem("What is 8 times 3?"), ("Take 8.", "Triple it: 24.", "#### 24"), "24")])
    shutil.copyfile(backup, db_path)

    with StepGraph.open(db_path) as graph:
        status = graph.index_status

    assert status == "rebuilt"
    assert check_graph(db_path).ok
