"""Run user SQL read-only, in a locked-down DuckDB connection.

Two layers: sqlglot checks that the text is exactly one read-only query,
and the query runs on a read-only connection with external access,
extension installs and autoloading off and the configuration locked, so a
table function such as ``read_csv`` that sqlglot passes as a SELECT still
cannot reach a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from tater_graph.errors import QueryError
from tater_graph.store.database import lock_error_message

SANDBOX_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


def check_query(query: str, dialect: str = "duckdb") -> str:
    """Return the query as DuckDB SQL if it is exactly one read-only query; raise QueryError otherwise."""
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError as error:
        known = ", ".join(sorted(d.value for d in sqlglot.Dialects if d.value))
        raise QueryError(f"unknown SQL dialect {dialect!r}: use one of {known}") from error
    if "\x00" in query:
        raise QueryError("invalid SQL: the query contains a NUL character; remove it")
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as error:
        raise QueryError(f"invalid SQL: unpaired surrogate at character {error.start}, which is not valid "
                         "Unicode; fix the encoding") from error
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as error:
        raise QueryError(f"invalid SQL: {_describe(error)}") from error
    except sqlglot.errors.SqlglotError as error:  # tokenizer errors and unknown dialects
        raise QueryError(f"invalid SQL: {error}") from error
    except RecursionError as error:
        raise QueryError("invalid SQL: expressions nested too deeply to parse; simplify the query") from error
    if len(statements) != 1:
        raise QueryError(f"expected exactly one SQL statement, got {len(statements)}: run queries one at a time")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise QueryError(f"only read-only queries (SELECT, WITH ... SELECT) are allowed, got {statement.key.upper()}")
    for node in statement.walk():
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Command,
                             exp.Alter, exp.Copy)):
            raise QueryError(f"{node.key.upper()} is not allowed inside a query: user SQL is read-only")
    try:
        return statement.sql(dialect="duckdb")
    except RecursionError as error:
        raise QueryError("invalid SQL: expressions nested too deeply to translate; simplify the query") from error


def _describe(error: sqlglot.errors.ParseError) -> str:
    """Return the first parse error as plain text (sqlglot's message underlines with terminal escapes)."""
    if not error.errors:
        return str(error)
    first = error.errors[0]
    return f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}"


def run_query(db_path: str | os.PathLike[str], query: str, dialect: str = "duckdb") -> tuple[list[str], list[tuple]]:
    """Run a checked query on a read-only sandboxed connection; return (column names, rows)."""
    sql = check_query(query, dialect)
    path = Path(db_path)
    if not path.exists():
        raise QueryError(f"database {path} not found: run a search or an ingest first, or pass --db")
    try:
        con = duckdb.connect(str(path), read_only=True, config=SANDBOX_CONFIG)
    except duckdb.Error as error:
        raise QueryError(lock_error_message(path, error) or f"cannot open {path} read-only: {error}") from error
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    except duckdb.Error as error:
        raise QueryError(f"query failed: {error}") from error
    finally:
        con.close()
