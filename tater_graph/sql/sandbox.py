"""Run user SQL read-only on a step graph, in a locked-down DuckDB instance.

Two layers guard every query:

1. :func:`tater_graph.sql.check.check_query` (sqlglot): exactly one
   statement, a query at the top, no write, DDL, setting or file-reading
   function anywhere in the tree; unparseable text is rejected.
2. This module (DuckDB): the query runs in a fresh in-memory DuckDB instance
   that attaches the graph file ``READ_ONLY`` as its default database. The
   instance has external access off (no files, no network) and extension
   install and autoload off, and its configuration is locked so the query
   cannot turn any of it back on. DuckDB parses the text again and must see
   exactly one SELECT.

Why a fresh instance per query, attaching the file: DuckDB makes every
connection to one file inside a process share one configuration, so a
sandboxed connection to a file that is already open cannot be made; an
in-memory instance has a configuration of its own, and the file is attached
to it read-only. Nothing is spawned, so a query costs milliseconds of set-up.

Limits: a timer thread calls ``interrupt()`` on the connection when the time
limit passes, and results stream in Arrow batches so that a query returning
too many rows stops at the first batch over the limit.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from tater_graph.errors import (
    ConfigError,
    DatabaseLockedError,
    InvalidQueryError,
    QueryError,
    QueryRejectedError,
    QueryRowLimitError,
    QueryTimeoutError,
)
from tater_graph.sql.check import check_query
from tater_graph.sql.namespaced import check_namespaced_query, create_namespace_views
from tater_graph.sql.diagnostics import (
    DuckDBErrorDetail,
    catalog_names,
    char_offset,
    closest_name,
    line_column,
    mark_position,
    parse_duckdb_error,
)

logger = logging.getLogger(__name__)

GRAPH_CATALOG = "graph"
BATCH_ROWS = 2048

# Set when the instance is created, before the graph is attached.
SANDBOX_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "errors_as_json": True,
}
_LOCK_HOLDER = re.compile(r"PID (\d+)")
_results_instance: duckdb.DuckDBPyConnection | None = None
_results_lock = threading.Lock()


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed query.

    Attributes:
        timeout_s: wall-clock seconds before the query is interrupted.
        max_rows: most rows a result may have; one more stops the query.
        memory_limit: DuckDB memory limit such as ``"2GB"``, or None for
            DuckDB's default (80% of RAM).
        threads: DuckDB worker threads, or None for min(4, CPU count).
    """

    timeout_s: float = 30.0
    max_rows: int = 100_000
    memory_limit: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be positive, got {self.timeout_s!r}")
        if self.max_rows < 1:
            raise ConfigError(f"max_rows must be at least 1, got {self.max_rows!r}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads!r}")


def query(db: str | os.PathLike[str], sql: str, *, dialect: str = "duckdb",
          limits: SandboxLimits = SandboxLimits(), namespace: str | None = None) -> duckdb.DuckDBPyRelation:
    """Run one read-only query on the graph at ``db`` through both sandbox layers.

    Returns a DuckDB relation over the materialized result, so ``.df()``,
    ``.to_arrow_table()``, ``.pl()`` and ``.fetchall()`` work (pandas and
    polars where installed). The file must not be open for writing in this
    process: close a writable :class:`~tater_graph.StepGraph` on it first.

    Raises:
        InvalidQueryError: syntax error or unknown name, with line, column and a suggestion.
        QueryRejectedError: the query is not one read-only SELECT over the graph.
        QueryTimeoutError, QueryRowLimitError: a limit was reached.
        DatabaseLockedError: another process is writing to the file.

    Example::

        rows = query("bank.duckdb", "SELECT * FROM best_path(1)").fetchall()
    """
    checked = check_query(sql, dialect)
    table = run_sandboxed(db, checked.sql, limits, transpiled=checked.transpiled, namespace=namespace)
    return _results_connection().from_arrow(table)


def _results_connection() -> duckdb.DuckDBPyConnection:
    """Return a new cursor on the process-wide in-memory instance that holds query results.

    Starting a DuckDB instance takes tens of milliseconds, so results share
    one; each call gets its own cursor because a connection must not be used
    from two threads at once. The instance holds only results, never the graph.
    """
    global _results_instance
    with _results_lock:
        if _results_instance is None:
            _results_instance = duckdb.connect(":memory:")
        return _results_instance.cursor()


def run_sandboxed(db: str | os.PathLike[str], sql: str, limits: SandboxLimits = SandboxLimits(), *,
                  transpiled: bool = False, namespace: str | None = None) -> pa.Table:
    """Run DuckDB SQL in the sandboxed instance only (the second layer) and return the rows.

    :func:`query` calls this after the sqlglot check; tests call it directly
    to show that this layer alone also rejects every attack.
    """
    con = open_sandbox(db, limits, namespace=namespace)
    try:
        if namespace is not None:
            check_namespaced_query(con, sql, namespace, GRAPH_CATALOG)
        _check_one_select(con, sql, transpiled)
        return _fetch_with_limits(con, sql, limits, transpiled)
    finally:
        con.close()


def open_sandbox(db: str | os.PathLike[str], limits: SandboxLimits = SandboxLimits(), *,
                 namespace: str | None = None) -> duckdb.DuckDBPyConnection:
    """Return a new in-memory DuckDB connection with the graph attached read-only and the configuration locked.

    With ``namespace``, every table is shadowed by a view of that bank's rows
    and those of the banks that granted it read access (see :mod:`tater_graph.sql.namespaced`).
    """
    path = Path(db)
    if not path.is_file():
        raise QueryError(f"database {path} not found: check --db, or create it with a search or an ingest")

    config = dict(SANDBOX_CONFIG, threads=limits.threads or max(1, min(4, os.cpu_count() or 1)))
    if limits.memory_limit is not None:
        config["memory_limit"] = limits.memory_limit
    try:
        con = duckdb.connect(":memory:", config=config)
    except duckdb.Error as error:
        raise ConfigError(f"invalid sandbox limits {limits}: {error}") from error

    try:
        con.execute("SET enable_progress_bar = false")
        _attach(con, path)
        con.execute(f"USE {GRAPH_CATALOG}")
        if namespace is not None:
            create_namespace_views(con, namespace, GRAPH_CATALOG)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    literal = str(path.resolve()).replace("'", "''")
    try:
        con.execute(f"ATTACH '{literal}' AS {GRAPH_CATALOG} (READ_ONLY)")
    except duckdb.Error as error:
        text = str(error)
        if "Conflicting lock" in text or "Could not set lock" in text:
            holder = _LOCK_HOLDER.search(text)
            who = f"process {holder.group(1)}" if holder else "another process"
            raise DatabaseLockedError(
                f"database {path} is locked by {who}, which has it open for writing (a search or an ingest): "
                "DuckDB lets no other process read a file while one writes to it. Run the query when that "
                f"process finishes, or query a copy (cp {path} copy.duckdb)"
            ) from error
        if "already attached" in text or "file handle conflict" in text:
            raise QueryError(
                f"database {path} is already open for writing in this process: close the StepGraph or Database "
                "on it, or open it with read_only=True, before a sandboxed query; or use StepGraph.sql() for "
                "trusted SQL"
            ) from error
        raise QueryError(f"cannot open database {path} read-only: {parse_duckdb_error(error).message}") from error


def _check_one_select(con: duckdb.DuckDBPyConnection, sql: str, transpiled: bool) -> None:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        raise _query_error(error, con, sql, transpiled) from error
    if len(statements) != 1:
        raise QueryRejectedError(f"expected exactly one SQL statement, DuckDB found {len(statements)}: "
                                 "run queries one at a time")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = str(kind).rsplit(".", 1)[-1]
        raise QueryRejectedError(f"{name} statements are not allowed: tater-graph sql runs one read-only SELECT")


def _fetch_with_limits(con: duckdb.DuckDBPyConnection, sql: str, limits: SandboxLimits,
                       transpiled: bool) -> pa.Table:
    timed_out = threading.Event()

    def interrupt() -> None:
        timed_out.set()
        con.interrupt()

    timer = threading.Timer(limits.timeout_s, interrupt)
    timer.daemon = True
    timer.start()
    try:
        relation = _bind(con, sql, transpiled)
        reader = relation.to_arrow_reader(BATCH_ROWS)
        batches = []
        rows = 0
        for batch in reader:
            rows += batch.num_rows
            if rows > limits.max_rows:
                raise QueryRowLimitError(
                    f"the query returned more than {limits.max_rows} rows and was stopped: add a LIMIT or a "
                    "WHERE clause, or raise the limit (--max-rows, or SandboxLimits(max_rows=...))"
                )
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.Error as error:
        if timed_out.is_set():
            raise _timeout_error(limits) from error
        raise _query_error(error, con, sql, transpiled) from error
    finally:
        timer.cancel()


def _bind(con: duckdb.DuckDBPyConnection, sql: str, transpiled: bool) -> duckdb.DuckDBPyRelation:
    """Bind the query as a streaming relation; on an error, get DuckDB's positioned report of it.

    ``con.sql()`` reports binder errors without a position, while
    ``con.execute()`` includes it. The statement failed to bind, so running
    it with ``execute()`` fails at the same step without executing anything.
    """
    try:
        return con.sql(sql)
    except duckdb.Error as error:
        if isinstance(error, duckdb.InterruptException):
            raise
        try:
            con.execute(sql)
        except duckdb.Error as positioned:
            raise _query_error(positioned, con, sql, transpiled) from positioned
        raise _query_error(error, con, sql, transpiled) from error


def _timeout_error(limits: SandboxLimits) -> QueryTimeoutError:
    return QueryTimeoutError(
        f"the query ran longer than {limits.timeout_s:g} s and was stopped: narrow it (WHERE, LIMIT, a smaller "
        "max_depth), or raise the limit (--timeout, or SandboxLimits(timeout_s=...))"
    )


def _query_error(error: duckdb.Error, con: duckdb.DuckDBPyConnection, sql: str, transpiled: bool) -> QueryError:
    """Map a DuckDB error to the project error whose message gives the fix."""
    if isinstance(error, QueryError):
        return error
    detail = parse_duckdb_error(error)
    if isinstance(error, duckdb.PermissionException) or "disabled by configuration" in detail.message:
        return QueryRejectedError(f"the sandbox blocked the query: it may read only the graph, not files, "
                                  f"extensions or settings (DuckDB: {detail.message})")
    if "read-only mode" in detail.message or "configuration has been locked" in detail.message:
        return QueryRejectedError(f"the sandbox blocked the query: the graph is read-only and settings are locked "
                                  f"(DuckDB: {detail.message})")
    if isinstance(error, duckdb.InterruptException):
        return QueryError(f"the query was interrupted: {detail.message}")
    if isinstance(error, duckdb.OutOfMemoryException):
        return QueryError(f"the query ran out of memory: {detail.message}. Narrow it (WHERE, LIMIT), or raise "
                          "the limit (--memory-limit, or SandboxLimits(memory_limit=...))")

    located = isinstance(error, (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException))
    if not located and detail.position is None:
        return QueryError(f"the query failed: {detail.kind} error: {detail.message}")
    return _invalid_query(detail, con, sql, transpiled)


def _invalid_query(detail: DuckDBErrorDetail, con: duckdb.DuckDBPyConnection, sql: str, transpiled: bool) -> InvalidQueryError:
    suggestion = _suggest(detail, con)
    parts = [f"{detail.kind} error"]
    line = column = offset = None
    if detail.position is not None:
        offset = char_offset(sql, detail.position)
        line, column = line_column(sql, offset)
        parts.append(f" at line {line}, column {column}")
    message = "".join(parts) + f": {detail.message}"
    if suggestion:
        message += f"\nDid you mean {suggestion!r}?"
    if offset is not None:
        where = "the transpiled query" if transpiled else "the query"
        message += f"\nIn {where}:\n{mark_position(sql, offset, len(detail.name or '') or 1)}"
    return InvalidQueryError(message, line=line, column=column, suggestion=suggestion)


def _suggest(detail: DuckDBErrorDetail, con: duckdb.DuckDBPyConnection) -> str | None:
    if not detail.name or not detail.entry_type:
        return None
    pool = list(detail.candidates)
    try:
        pool += catalog_names(con, detail.entry_type, GRAPH_CATALOG)
    except duckdb.Error:
        logger.debug("catalog lookup for a suggestion failed", exc_info=True)
    return closest_name(detail.name, pool)
