"""Open the DuckDB file that is the source of truth, with lock and version checks.

One process may hold a database file for writing; DuckDB enforces this with
a file lock. Readers in other processes open it read-only, which DuckDB
allows only while no process holds it for writing.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tater_graph.errors import DatabaseError, DatabaseLockedError, SchemaVersionError
from tater_graph.store import migrations as migrations_module

logger = logging.getLogger(__name__)

DEFAULT_DB_PATH = "tater-graph.duckdb"
DB_ENV_VAR = "TATER_GRAPH_DB"


def default_db_path() -> Path:
    """Return the database path from ``$TATER_GRAPH_DB``, else ``./tater-graph.duckdb``."""
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH)


class Database:
    """A DuckDB connection to one tater-graph file.

    Use :meth:`cursor` from worker threads: a DuckDB connection object must
    not be shared between threads, but each cursor is its own connection to
    the same database instance.

    Args:
        path: the database file; created and migrated when missing (unless read-only).
        read_only: open without taking the write lock.
        migrate: apply pending migrations on open (writers only).
        check_version: raise :class:`SchemaVersionError` on open when the schema is
            older (and not migrated) or newer than this tater-graph; off only for
            tools that report the version themselves, such as ``tater-graph check``.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False, migrate: bool = True,
                 check_version: bool = True):
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        if read_only and not self.path.exists():
            raise DatabaseError(f"database {self.path} not found: check the path, or create it with a search or ingest")
        self._writer_key: Path | None = None
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer_key = _claim_writer(self.path)
        try:
            if not read_only:
                _keep_wal_copy(self.path)
            self.con = _connect(self.path, read_only)
        except BaseException:
            self._release()
            raise
        self.applied: list[migrations_module.Migration] = []
        try:
            if check_version:
                self._check_version(migrate)
        except BaseException:
            self.close()
            raise

    def _check_version(self, migrate: bool) -> None:
        try:
            pending = migrations_module.pending(self.con)
        except SchemaVersionError as error:
            raise SchemaVersionError(f"database {self.path}: {error}") from error
        if not pending:
            return
        if self.read_only or not migrate:
            raise SchemaVersionError(
                f"database {self.path} has schema version {migrations_module.current_version(self.con)}, "
                f"older than this tater-graph ({pending[-1].version}): run `tater-graph --db {self.path} migrate`"
            )
        self.applied = migrations_module.migrate(self.con)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Return a new cursor for use in one thread."""
        return self.con.cursor()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction on the main connection; roll back on any error."""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                try:
                    self.con.execute("ROLLBACK")
                except duckdb.Error as rollback_error:  # keep the error that caused the rollback
                    logger.warning("rollback of %s failed after an error: %s", self.path, rollback_error)
                raise
            self.con.execute("COMMIT")

    def checkpoint(self) -> None:
        """Write the WAL into the database file, so the file alone contains every commit."""
        if not self.read_only:
            with self._lock:
                self.con.execute("CHECKPOINT")

    def next_id(self, table: str, column: str) -> int:
        """Return the next free id for ``table.column`` (the writer is the only process that inserts)."""
        return self.con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}").fetchall()[0][0]

    def get_meta(self, key: str) -> str | None:
        rows = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    def close(self) -> None:
        with self._lock:
            try:
                self.con.close()
            finally:
                self._release()

    def _release(self) -> None:
        if self._writer_key is not None:
            _release_writer(self._writer_key)
            self._writer_key = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_LOCK_HOLDER = re.compile(r"PID (\d+)")

# Resolved paths this process has open for writing. DuckDB itself lets two
# connections of one process share a file, which would make two writers.
_open_writers: set[Path] = set()
_open_writers_lock = threading.Lock()


def _claim_writer(path: Path) -> Path:
    key = path.resolve()
    with _open_writers_lock:
        if key in _open_writers:
            raise DatabaseLockedError(
                f"database {path} is already open for writing in this process (PID {os.getpid()}): one writer "
                "at a time, so share that StepGraph, and read through its db.cursor() in other threads"
            )
        _open_writers.add(key)
    return key


def _release_writer(key: Path) -> None:
    with _open_writers_lock:
        _open_writers.discard(key)


def lock_error_message(path: Path, error: duckdb.Error) -> str | None:
    """Return a clear message when ``error`` means another connection holds ``path``, else None.

    DuckDB (checked with 2.0) takes an exclusive file lock for a read-write
    open and a shared one for a read-only open, so a writer excludes every
    other process, readers included.
    """
    text = str(error)
    if isinstance(error, duckdb.IOException) and "lock" in text.lower():
        holder = _LOCK_HOLDER.search(text)
        who = f"process {holder.group(1)}" if holder else "another process"
        return (f"database {path} is locked by {who}: DuckDB allows one writer process, and no reader in other "
                "processes while it writes. Wait for it to finish, or read through that process")
    if isinstance(error, duckdb.ConnectionException) and "different configuration" in text:
        return (f"database {path} is already open in this process (PID {os.getpid()}) in another mode: "
                "read through the open graph's db.cursor() instead")
    return None


def wal_copy_path(path: Path) -> Path:
    """Return where the last write-ahead log replayed on a writable open is kept."""
    return path.with_name(path.name + ".wal.replayed")


def _keep_wal_copy(path: Path) -> None:
    """Copy a write-ahead log left by a process that stopped without a checkpoint.

    DuckDB (2.0.1) replays the log on open and then removes it; a log whose
    header or tail is damaged is dropped from the damaged point on without an
    error. The copy keeps those bytes until the next unclean stop replaces it.
    """
    wal = path.with_name(path.name + ".wal")
    if not wal.exists() or wal.stat().st_size == 0:
        return
    copy = wal_copy_path(path)
    shutil.copyfile(wal, copy)
    logger.warning("replaying the write-ahead log %s (%d bytes) left by a process that stopped without a "
                   "checkpoint; a copy is kept at %s", wal, wal.stat().st_size, copy)


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    config = {"threads": str(max(1, min(4, os.cpu_count() or 1)))}
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as error:
        locked = lock_error_message(path, error)
        if locked is not None:
            raise DatabaseLockedError(locked) from error
        text = str(error)
        if "WAL" in text or "replay" in text.lower():
            raise DatabaseError(
                f"cannot replay the write-ahead log of {path}: {text}. Nothing was discarded: {path}.wal is "
                f"left as it was. Copy {path} and {path}.wal aside first; then moving {path}.wal away opens "
                "the database at its last checkpoint, without the commits made after it (re-run or re-ingest them)"
            ) from error
        raise DatabaseError(f"cannot open database {path}: {text}") from error
