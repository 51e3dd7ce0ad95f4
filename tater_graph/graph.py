"""The public entry point: a step graph on disk (DuckDB file plus HNSW index).

>>> from tater_graph import StepGraph                               # doctest: +SKIP
>>> with StepGraph.open("bank.duckdb", embedder="hashed") as graph:  # doctest: +SKIP
...     graph.ingest(rollouts)
...     graph.sql("SELECT count(*) FROM nodes").fetchall()
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np

from tater_graph.embedders import DIM, Embedder, get_embedder
from tater_graph.errors import ConfigError
from tater_graph.index import IndexParams, VectorIndex
from tater_graph.records import IngestResult, Rollout
from tater_graph.store.database import Database, default_db_path
from tater_graph.store.writer import AlsoWrite, GraphWriter

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "e5"


class StepGraph:
    """A step graph: the database, its embedder and its vector index.

    Open with :meth:`open`. The embedder is fixed per database at its first
    write (vectors from different embedders cannot be compared); opening with
    another one raises :class:`ConfigError`.
    """

    def __init__(self, db: Database, embedder_name: str, index_params: IndexParams = IndexParams(),
                 namespace: str = "default"):
        self.db = db
        self.embedder_name = embedder_name
        self.namespace = namespace
        self._embedder: Embedder | None = None
        self.index = VectorIndex(Path(str(db.path) + ".hnsw"), embedder_name, DIM, index_params,
                                 database_id=db.get_meta("database_id") or "")
        self.index_status = "not-loaded"
        if not db.read_only:
            self.index_status = self.index.sync(db)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, embedder: str | None = None,
             read_only: bool = False, namespace: str = "default",
             index_params: IndexParams = IndexParams()) -> StepGraph:
        """Open (and create, migrate and index-sync when writable) the graph at ``path``.

        Args:
            path: database file; default ``$TATER_GRAPH_DB`` or ``./tater-graph.duckdb``.
            embedder: ``"e5"`` or ``"hashed"``; default: the one the database
                was built with, else ``"e5"``.
            read_only: open without the write lock (no ingest, no index save).
            namespace: the bank that new problems and runs belong to.
        """
        db = Database(path or default_db_path(), read_only=read_only)
        try:
            stored = db.get_meta("embedder")
            name = embedder or stored or DEFAULT_EMBEDDER
            if stored is not None and stored != name:
                raise ConfigError(
                    f"database {db.path} was built with the {stored!r} embedder, not {name!r}: "
                    f"pass --embedder {stored}, or use a new database file"
                )
            if stored is None and not read_only:
                db.set_meta("embedder", name)
            if db.get_meta("database_id") is None and not read_only:
                # Identifies this database in the index sidecar, so an index file
                # copied from another database is never taken for this one's.
                db.set_meta("database_id", uuid.uuid4().hex)
            if not read_only:
                _close_abandoned_runs(db)
            return cls(db, name, index_params, namespace)
        except BaseException:
            db.close()
            raise

    def ensure_index(self) -> VectorIndex:
        """Return the vector index, loading it on first use in a read-only graph.

        A writable graph syncs its index on open. A read-only one loads it
        here, in memory only: a stale or missing file is rebuilt from
        DuckDB for this process and not saved.
        """
        if self.index_status == "not-loaded":
            self.index_status = self.index.sync(self.db)
        return self.index

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.embedder_name)
        return self._embedder

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts)

    def ingest(self, rollouts: Sequence[Rollout], run_id: int | None = None,
               also_write: AlsoWrite | None = None) -> IngestResult:
        """Write rollouts (whole, in one transaction) and index their new steps.

        ``also_write(con, result)`` runs inside the write transaction (see
        :meth:`GraphWriter.write`). The index is updated only after the commit.
        """
        writer = GraphWriter(self.db, self.embed, self.namespace)
        result = writer.write(rollouts, run_id=run_id, also_write=also_write)
        if result.new_nodes:
            self._index_new_vectors()
        return result

    def _index_new_vectors(self) -> None:
        table = self.db.cursor().sql(
            "SELECT node_id, embedding FROM node_vectors WHERE node_id > ? ORDER BY node_id",
            params=[self.index.last_node_id],
        ).to_arrow_table()
        if table.num_rows:
            ids = table.column("node_id").to_numpy()
            vectors = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(len(ids), DIM)
            self.index.add(ids, vectors)

    def sql(self, query: str, params: Sequence[object] | None = None) -> duckdb.DuckDBPyRelation:
        """Run trusted SQL on the graph's own connection (no sandbox: for library code)."""
        return self.db.cursor().sql(query, params=params)

    def flush(self) -> None:
        """Save the index and checkpoint the database."""
        if self.db.read_only:
            return
        if self.index.dirty:
            self.index.save()
        self.db.checkpoint()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.db.close()

    def __enter__(self) -> StepGraph:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _close_abandoned_runs(db: Database) -> None:
    """Mark runs left 'running' by a killed writer as interrupted, with their ledger
    summed from the problems they committed. Only one writer can hold the file,
    so no run can still be in progress when a writer opens it."""
    with db.transaction() as con:
        abandoned = con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()
        if not abandoned:
            return
        con.execute(
            "UPDATE runs SET status = 'interrupted', n_problems = t.n, n_correct = t.c, "
            "accuracy = CASE WHEN t.graded > 0 THEN t.c / t.graded END, prompt_tokens = t.pt, "
            "generated_tokens = t.gt, reused_tokens = t.rt, model_calls = t.mc, wall_seconds = t.ws "
            "FROM (SELECT r.run_id, count(p.problem_id) AS n, count(*) FILTER (p.is_correct) AS c, "
            "count(p.is_correct) AS graded, coalesce(sum(p.prompt_tokens), 0) AS pt, "
            "coalesce(sum(p.generated_tokens), 0) AS gt, coalesce(sum(p.reused_tokens), 0) AS rt, "
            "coalesce(sum(p.model_calls), 0) AS mc, coalesce(sum(p.wall_seconds), 0) AS ws "
            "FROM runs r LEFT JOIN run_problems p USING (run_id) WHERE r.status = 'running' GROUP BY r.run_id) t "
            "WHERE runs.run_id = t.run_id"
        )
    logger.warning("marked %d run(s) left running by an earlier process as interrupted: %s",
                   len(abandoned), ", ".join(str(row[0]) for row in abandoned))

