"""The HNSW index of step vectors: a derived cache of the vectors in DuckDB.

The index file sits beside the database (``graph.duckdb.hnsw``) with a JSON
sidecar (``graph.duckdb.hnsw.json``) recording the database id, the
embedder, dimension, vector count, the largest node id indexed, hnswlib
parameters and the size and SHA-256 of the index file and of its aliases
file (``graph.duckdb.hnsw.aliases``: nodes with identical vectors share one
HNSW point, see :mod:`tater_graph.index_aliases`). On open, the sidecar, the
checksums and the hnswlib file header are checked before hnswlib reads the
file. A missing, foreign, truncated or corrupted file is rebuilt from DuckDB
with a warning. An index that is only behind is caught up with the vectors
added since. hnswlib's ``add_items`` is not safe alongside queries and
``resize_index`` is safe with neither, so one lock guards every call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path

import hnswlib
import numpy as np

from tater_graph.errors import VectorIndexError
from tater_graph.index_aliases import VectorAliases
from tater_graph.store.database import Database

logger = logging.getLogger(__name__)

SIDECAR_FORMAT = 2
DATABASE_ID_KEY = "database_id"
_CHUNK = 100_000
# A filtered query allowing at most this many points compares the query with
# each of them instead of searching the graph: hnswlib's filtered search
# visits most of the graph to find k allowed points among few.
EXACT_FILTER_MAX = 4096


@dataclass(frozen=True)
class IndexParams:
    """hnswlib build parameters. ``M`` and ``ef_construction`` trade build time for recall.

    M=16 lost near-duplicate steps entirely (unreachable in the graph) on
    hashed embeddings of templated steps, so the default is 32.
    """

    M: int = 32
    ef_construction: int = 200
    ef_search: int = 100


@dataclass(frozen=True)
class Sidecar:
    """The state an index file was built from, written beside it."""

    format: int
    database_id: str
    embedder: str
    dim: int
    space: str
    count: int
    last_node_id: int
    max_elements: int
    M: int
    ef_construction: int
    sha256: str
    size_bytes: int
    aliases_sha256: str
    points: int  # vectors in the hnswlib file; ``count`` also counts the aliases


class VectorIndex:
    """Cosine k-NN over node vectors, labelled by node id."""

    def __init__(self, path: Path, embedder: str, dim: int, params: IndexParams = IndexParams(),
                 database_id: str = ""):
        self.path = Path(path)
        self.database_id = database_id
        self.sidecar_path = self.path.with_name(self.path.name + ".json")
        self.aliases_path = self.path.with_name(self.path.name + ".aliases")
        self.embedder = embedder
        self.dim = dim
        self.params = params
        self._lock = threading.Lock()
        self._index: hnswlib.Index | None = None
        self._aliases = VectorAliases()
        self.last_node_id = 0
        self.dirty = False

    # ---- lifecycle -------------------------------------------------------

    def sync(self, db: Database) -> str:
        """Load the file and bring it up to date with DuckDB; return what was done.

        Returns one of ``"loaded"``, ``"caught-up"``, ``"rebuilt"``, ``"empty"``.
        """
        with self._lock:
            stored_count, stored_last = _vector_stats(db)
            problem = self.check_file()
            if problem is None:
                sidecar = self._read_sidecar()
                below = _count_up_to(db, sidecar.last_node_id)
                problem = _stale_reason(sidecar, below, stored_last)
            if problem is None:
                problem = self._load(sidecar)
            if problem is None:
                if stored_last > sidecar.last_node_id:
                    added = self._add_from_db(db, after=sidecar.last_node_id)
                    logger.info("caught up HNSW index %s with %d vectors", self.path, added)
                    return "caught-up"
                return "loaded"
            if stored_count == 0 and not self.path.exists():
                self._new_index(1024)
                return "empty"
            logger.warning("rebuilding HNSW index %s from DuckDB: %s", self.path, problem)
            self._new_index(max(1024, stored_count))
            self._add_from_db(db, after=0)
            return "rebuilt"

    def verify(self, db: Database) -> str | None:
        """Return why the file on disk is not in step with DuckDB, or None; changes nothing.

        In step means: the file passes :meth:`check_file`, it contains exactly
        the node ids of ``node_vectors``, and its sidecar records their count
        and largest id. An index that is only behind fails here, although
        :meth:`sync` would catch it up on the next writable open.
        """
        stored_count, stored_last = _vector_stats(db)
        if stored_count == 0 and not self.path.exists():
            return None
        problem = self.check_file()
        if problem is not None:
            return problem
        sidecar = self._read_sidecar()
        problem = _stale_reason(sidecar, _count_up_to(db, sidecar.last_node_id), stored_last)
        if problem is not None:
            return problem
        if sidecar.count != stored_count:
            return (f"index holds {sidecar.count} vectors up to node {sidecar.last_node_id}, the database "
                    f"{stored_count} up to node {stored_last} (behind until the next writable open catches it up)")

        index = hnswlib.Index(space="cosine", dim=self.dim)
        try:
            index.load_index(str(self.path), max_elements=sidecar.max_elements)
        except (RuntimeError, ValueError, MemoryError) as error:
            return f"hnswlib cannot load the file ({error})"
        aliases = VectorAliases.load(self.aliases_path)
        labels = np.sort(np.concatenate([np.asarray(index.get_ids_list(), dtype=np.int64),
                                         np.fromiter(aliases.label_of, dtype=np.int64, count=aliases.alias_count)]))
        stored = np.sort(db.cursor().sql("SELECT node_id FROM node_vectors").to_arrow_table()
                         .column("node_id").to_numpy())
        if len(labels) != len(stored) or not np.array_equal(labels, stored):
            missing = np.setdiff1d(stored, labels)[:5].tolist()
            extra = np.setdiff1d(labels, stored)[:5].tolist()
            return f"index labels differ from node_vectors (missing {missing}, extra {extra}, at most 5 each)"
        return None

    def rebuild(self, db: Database) -> int:
        """Drop the index and add every vector from DuckDB again; return the count."""
        with self._lock:
            stored_count, _ = _vector_stats(db)
            self._new_index(max(1024, stored_count))
            return self._add_from_db(db, after=0)

    def save(self) -> None:
        """Write the index and its sidecar atomically (temp file, fsync, rename)."""
        with self._lock:
            if self._index is None:
                return
            tmp = self.path.with_name(self.path.name + ".tmp")
            self._index.save_index(str(tmp))
            _fsync(tmp)
            aliases_tmp = self.aliases_path.with_name(self.aliases_path.name + ".tmp")
            aliases_tmp.write_bytes(self._aliases.to_bytes())
            _fsync(aliases_tmp)
            sidecar = Sidecar(
                format=SIDECAR_FORMAT, database_id=self.database_id, embedder=self.embedder, dim=self.dim, space="cosine",
                count=self._aliases.count, points=self._index.get_current_count(), last_node_id=self.last_node_id,
                max_elements=self._index.get_max_elements(), M=self.params.M,
                ef_construction=self.params.ef_construction, sha256=_sha256(tmp), size_bytes=tmp.stat().st_size,
                aliases_sha256=_sha256(aliases_tmp),
            )
            side_tmp = self.sidecar_path.with_name(self.sidecar_path.name + ".tmp")
            side_tmp.write_text(json.dumps(asdict(sidecar), indent=1))
            _fsync(side_tmp)
            # The sidecar goes first: a crash between the renames leaves a
            # checksum that does not match an old file, so the index is rebuilt.
            os.replace(side_tmp, self.sidecar_path)
            os.replace(aliases_tmp, self.aliases_path)
            os.replace(tmp, self.path)
            self.dirty = False

    # ---- reads and writes --------------------------------------------------

    @property
    def count(self) -> int:
        """Node ids in the index, aliases of a repeated vector included."""
        with self._lock:
            return 0 if self._index is None else self._aliases.count

    @property
    def point_count(self) -> int:
        """Distinct vectors stored in hnswlib."""
        with self._lock:
            return 0 if self._index is None else self._index.get_current_count()

    def add(self, node_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors labelled by node id (ids must be new)."""
        if len(node_ids) == 0:
            return
        with self._lock:
            self._add(np.asarray(node_ids, dtype=np.int64), np.asarray(vectors, dtype=np.float32))

    def query(self, vectors: np.ndarray, k: int,
              allowed_ids: Collection[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (node ids, cosine similarities), each of shape (n, k'), k' <= k.

        ``allowed_ids`` restricts the results to those node ids (hnswlib's
        filtered search); None allows every node. Nodes with the same vector
        tie and follow each other, the first one indexed first.
        """
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        empty = np.empty((len(vectors), 0))
        with self._lock:
            if self._index is None or self._index.get_current_count() == 0:
                return empty.astype(np.int64), empty
            points = min(k, self._index.get_current_count())
            allowed = search_filter = None
            if allowed_ids is not None:
                allowed = allowed_ids if isinstance(allowed_ids, (set, frozenset)) else set(allowed_ids)
                allowed_labels = self._aliases.labels_of(allowed)
                if len(allowed_labels) <= EXACT_FILTER_MAX:
                    return self._exact_query(vectors, k, allowed_labels, allowed)
                points = min(points, len(allowed_labels))
                search_filter = allowed_labels.__contains__
            while points > 0:
                self._index.set_ef(max(self.params.ef_search, points))
                try:
                    labels, distances = self._index.knn_query(vectors, k=points, num_threads=1, filter=search_filter)
                except RuntimeError:
                    # hnswlib raises when it finds fewer than k matches (a tight filter): ask for fewer.
                    points //= 2
                    continue
                if not self._aliases.alias_count:
                    return labels.astype(np.int64), 1.0 - distances
                return self._aliases.expand(labels, 1.0 - distances, k, allowed)
        return empty.astype(np.int64), empty

    # ---- internals -----------------------------------------------------------

    def _exact_query(self, vectors: np.ndarray, k: int, labels: set[int],
                     allowed: set[int]) -> tuple[np.ndarray, np.ndarray]:
        """Rank the stored vectors of ``labels`` by cosine similarity (an exact search)."""
        if not labels:
            empty = np.empty((len(vectors), 0))
            return empty.astype(np.int64), empty
        candidates = np.fromiter(sorted(labels), dtype=np.int64, count=len(labels))
        # Unit vectors (cosine space). hnswlib 0.8.0 returns a list 2 to 3 times faster than its numpy form.
        stored = np.array(self._index.get_items(candidates, return_type="list"), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        similarities = (vectors / np.where(norms == 0, 1, norms)) @ stored.T
        top = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
        ranked_labels = candidates[top]
        ranked = np.take_along_axis(similarities, top, axis=1)
        return self._aliases.expand(ranked_labels, ranked, k, allowed)

    def _new_index(self, capacity: int) -> None:
        index = hnswlib.Index(space="cosine", dim=self.dim)
        index.init_index(max_elements=capacity, M=self.params.M, ef_construction=self.params.ef_construction,
                         random_seed=100)
        self._index = index
        self._aliases = VectorAliases()
        self.last_node_id = 0
        self.dirty = True

    def _load(self, sidecar: Sidecar) -> str | None:
        """Load the checked file; return why it is unusable, or None once loaded."""
        index = hnswlib.Index(space="cosine", dim=self.dim)
        try:
            index.load_index(str(self.path), max_elements=sidecar.max_elements)
        except (RuntimeError, ValueError, MemoryError) as error:
            return f"hnswlib cannot load the file ({error})"
        if index.get_current_count() != sidecar.points:
            return f"file holds {index.get_current_count()} vectors, the sidecar says {sidecar.points}"
        self._index = index
        self._aliases = VectorAliases.load(self.aliases_path)
        self.last_node_id = sidecar.last_node_id
        return None

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        assert self._index is not None
        if vectors.shape[1] != self.dim:
            raise VectorIndexError(f"vectors have {vectors.shape[1]} dimensions, the index {self.dim}")
        new_ids, new_vectors = self._aliases.split(ids, vectors)
        needed = self._index.get_current_count() + len(new_ids)
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, 2 * self._index.get_max_elements()))
        if len(new_ids):
            self._index.add_items(new_vectors, new_ids, num_threads=-1)
        self.last_node_id = max(self.last_node_id, int(ids.max()))
        self.dirty = True

    def _add_from_db(self, db: Database, after: int) -> int:
        added = 0
        cursor = db.cursor()
        try:
            start = after
            while True:
                table = cursor.sql(
                    "SELECT node_id, embedding FROM node_vectors WHERE node_id > ? ORDER BY node_id LIMIT ?",
                    params=[start, _CHUNK],
                ).to_arrow_table()
                if table.num_rows == 0:
                    break
                ids = table.column("node_id").to_numpy()
                flat = table.column("embedding").combine_chunks().flatten().to_numpy()
                self._add(ids, flat.reshape(len(ids), self.dim))
                added += len(ids)
                start = int(ids[-1])
        finally:
            cursor.close()
        return added

    def check_file(self) -> str | None:
        """Return why the file on disk cannot be loaded, or None when it checks out.

        Reads only the sidecar, the checksum and the fixed-size hnswlib header,
        so it is safe on any file: hnswlib's loader trusts the sizes in the
        header and can crash the process on a damaged file.
        """
        if not self.path.exists():
            return "index file missing"
        if not self.sidecar_path.exists():
            return "sidecar missing"
        try:
            sidecar = self._read_sidecar()
        except (ValueError, TypeError, KeyError, OSError) as error:
            return f"sidecar unreadable ({error})"
        if sidecar.format != SIDECAR_FORMAT:
            return f"sidecar format {sidecar.format}, expected {SIDECAR_FORMAT}"
        if sidecar.database_id != self.database_id:
            return f"built for database {sidecar.database_id!r}, not this one ({self.database_id!r}): a foreign file"
        if sidecar.embedder != self.embedder or sidecar.dim != self.dim:
            return f"built with {sidecar.embedder}/{sidecar.dim}-d, the database uses {self.embedder}/{self.dim}-d"
        size = self.path.stat().st_size
        if size != sidecar.size_bytes:
            return f"file is {size} bytes, the sidecar says {sidecar.size_bytes} (truncated or replaced)"
        if _sha256(self.path) != sidecar.sha256:
            return "checksum mismatch (corrupted or replaced)"
        if not self.aliases_path.exists():
            return "aliases file missing"
        if _sha256(self.aliases_path) != sidecar.aliases_sha256:
            return "aliases file checksum mismatch (corrupted or replaced)"
        return _check_header(self.path, self.dim, sidecar)

    def _read_sidecar(self) -> Sidecar:
        data = json.loads(self.sidecar_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        return Sidecar(**data)


# hnswlib 0.8 HierarchicalNSW::saveIndex header: offsetLevel0, max_elements,
# cur_element_count, size_data_per_element, label_offset, offsetData (size_t),
# maxlevel (int), enterpoint_node (uint32), maxM, maxM0, M (size_t), mult
# (double), ef_construction (size_t); then count * size_data_per_element bytes
# of level-0 data, then one uint32 link-list size (plus its links) per element.
_HEADER = struct.Struct("<6Qi I3QdQ")


def _check_header(path: Path, dim: int, sidecar: Sidecar) -> str | None:
    """Return why the hnswlib header disagrees with the sidecar and file size, or None."""
    size = path.stat().st_size
    if size < _HEADER.size:
        return f"file is {size} bytes, shorter than the {_HEADER.size}-byte hnswlib header"
    with open(path, "rb") as handle:
        fields = _HEADER.unpack(handle.read(_HEADER.size))
    _, max_elements, count, per_element, label_offset, data_offset, _, _, _, max_m0, m, _, _ = fields
    if count != sidecar.points or max_elements != sidecar.max_elements or m != sidecar.M:
        return (f"header says {count} of {max_elements} vectors with M={m}, the sidecar "
                f"{sidecar.points} of {sidecar.max_elements} with M={sidecar.M}")
    if label_offset - data_offset != 4 * dim or per_element != label_offset + 8 or data_offset != 4 * max_m0 + 4:
        return f"header describes vectors of {(label_offset - data_offset) // 4} dimensions, expected {dim}"
    if count > max_elements or size < _HEADER.size + count * (per_element + 4):
        return f"file is {size} bytes, too short for {count} vectors"
    return None


def _stale_reason(sidecar: Sidecar, below: int, stored_last: int) -> str | None:
    """Return why a sound file does not match DuckDB, or None when it is current or only behind."""
    if sidecar.last_node_id > stored_last:
        return (f"index reaches node {sidecar.last_node_id}, past the last stored vector {stored_last} "
                "(the file belongs to another state of the database)")
    if below != sidecar.count:
        return (f"index holds {sidecar.count} vectors up to node {sidecar.last_node_id}, the database {below} "
                "(vectors were deleted or the file belongs to another database)")
    return None


def _vector_stats(db: Database) -> tuple[int, int]:
    return tuple(db.cursor().execute("SELECT count(*), coalesce(max(node_id), 0) FROM node_vectors").fetchall()[0])


def _count_up_to(db: Database, last_node_id: int) -> int:
    return db.cursor().execute("SELECT count(*) FROM node_vectors WHERE node_id <= ?", [last_node_id]).fetchall()[0][0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
