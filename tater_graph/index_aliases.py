"""Identical vectors share one HNSW point: the other node ids become its aliases.

One step text reached from several states is several nodes with the same
vector. hnswlib's neighbour selection drops a candidate that is closer to an
already chosen neighbour than to the new point, so a group of identical
points links poorly to the rest of the graph and parts of it become
unreachable. On 50,002 hashed step vectors of the benchmark workload
(``tools/bench_workload.py``, 29% repeats, M=32, ef=100) recall@10 was 0.92
with every copy indexed and 0.998 with one point per distinct vector, which
also makes the index smaller and faster to build.

Vectors are compared after rounding to 5 decimals, through a 128-bit BLAKE2b
digest of the rounded bytes.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

_DIGEST_BYTES = 16
_DECIMALS = 5


def vector_digests(vectors: np.ndarray) -> list[bytes]:
    """Return a digest per row; rows equal to 5 decimals get the same digest."""
    # Adding 0.0 turns -0.0 into 0.0, so both round to the same bytes.
    rounded = np.ascontiguousarray(np.round(vectors.astype(np.float32), _DECIMALS) + np.float32(0.0))
    return [hashlib.blake2b(row.tobytes(), digest_size=_DIGEST_BYTES).digest() for row in rounded]


class VectorAliases:
    """The label (node id) of each distinct vector stored in hnswlib, and the node ids aliased to it."""

    def __init__(self) -> None:
        self.labels: dict[bytes, int] = {}
        self.aliases: dict[int, list[int]] = {}
        self.label_of: dict[int, int] = {}
        self.points: set[int] = set()

    @property
    def alias_count(self) -> int:
        return len(self.label_of)

    @property
    def count(self) -> int:
        """Node ids covered: one per distinct vector plus every alias."""
        return len(self.labels) + self.alias_count

    def split(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Record repeated vectors as aliases; return the ids and vectors that are new to the index."""
        keep = np.zeros(len(ids), dtype=bool)
        for row, (node_id, digest) in enumerate(zip(ids.tolist(), vector_digests(vectors))):
            label = self.labels.get(digest)
            if label is None:
                self.labels[digest] = node_id
                self.points.add(node_id)
                keep[row] = True
            else:
                self.aliases.setdefault(label, []).append(node_id)
                self.label_of[node_id] = label
        return ids[keep], vectors[keep]

    def labels_of(self, node_ids: set[int]) -> set[int]:
        """Return the labels in the index whose vector belongs to any of ``node_ids``."""
        labels = {self.label_of.get(node_id, node_id) for node_id in node_ids}
        return labels & self.points

    def expand(self, labels: np.ndarray, similarities: np.ndarray, k: int,
               allowed: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Replace each label by itself and its aliases, in rank order, and keep the first ``k`` per row.

        With ``allowed``, other ids are dropped. Rows are cut to the shortest
        row, so the result has shape (n, k') with k' <= k.
        """
        rows = []
        for row_labels, row_similarities in zip(labels.tolist(), similarities.tolist()):
            row = []
            for label, similarity in zip(row_labels, row_similarities):
                for node_id in (label, *self.aliases.get(label, ())):
                    if allowed is None or node_id in allowed:
                        row.append((node_id, similarity))
                if len(row) >= k:
                    break
            rows.append(row[:k])
        width = min(len(row) for row in rows)
        ids = np.array([[node_id for node_id, _ in row[:width]] for row in rows], dtype=np.int64)
        found = np.array([[similarity for _, similarity in row[:width]] for row in rows], dtype=similarities.dtype)
        return ids.reshape(len(rows), width), found.reshape(len(rows), width)

    def to_bytes(self) -> bytes:
        """Serialize as an uncompressed NumPy ``.npz`` archive."""
        digests = np.frombuffer(b"".join(self.labels), dtype=np.uint8).reshape(-1, _DIGEST_BYTES)
        alias_ids = [node_id for ids in self.aliases.values() for node_id in ids]
        alias_labels = [label for label, ids in self.aliases.items() for _ in ids]
        buffer = io.BytesIO()
        np.savez(
            buffer,
            digests=digests,
            labels=np.fromiter(self.labels.values(), dtype=np.int64, count=len(self.labels)),
            alias_ids=np.array(alias_ids, dtype=np.int64),
            alias_labels=np.array(alias_labels, dtype=np.int64),
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path) -> VectorAliases:
        """Read what :meth:`to_bytes` wrote."""
        with np.load(path) as archive:
            raw = archive["digests"].tobytes()
            labels = archive["labels"].tolist()
            alias_ids = archive["alias_ids"].tolist()
            alias_labels = archive["alias_labels"].tolist()
        loaded = cls()
        loaded.labels = {raw[i * _DIGEST_BYTES : (i + 1) * _DIGEST_BYTES]: label for i, label in enumerate(labels)}
        loaded.points = set(labels)
        for node_id, label in zip(alias_ids, alias_labels):
            loaded.aliases.setdefault(label, []).append(node_id)
            loaded.label_of[node_id] = label
        return loaded
