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
from tater_graph.sql.namespaced import check_namespaced_query, create_namespace_views

SANDBOX_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


def check_query(query: str, dialect: str = "duckdb") -> str:
    """Return the query as DuckDB SQL if it is exactly one read-only query; raise QueryError otherwise."""
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as error:
        raise QueryError(f"invalid SQL: {error}") from error
    if len(statements) != 1:
        raise QueryError(f"expected exactly one SQL statement, got {len(statements)}: run queries one at a time")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise QueryError(f"only read-only queries (SELECT, WITH ... SELECT) are allowed, got {statement.key.upper()}")
    for node in statement.walk():
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Command,
                             exp.Alter, exp.Copy)):
            raise QueryError(f"{node.key.upper()} is not allowed inside a query: user SQL is read-only")
    return statement.sql(dialect="duckdb")


def run_query(db_path: str | os.PathLike[str], query: str, dialect: str = "duckdb",
              namespace: str | None = None) -> tuple[list[str], list[tuple]]:
    """Run a checked query on a read-only sandboxed connection; return (column names, rows).

    With ``namespace``, the query sees only that bank's rows and those of the
    banks that granted it read access (see :mod:`tater_graph.sql.namespaced`).
    """
    sql = check_query(query, dialect)
    if namespace is not None:
        check_namespaced_query(sql, namespace)
    path = Path(db_path)
    if not path.exists():
        raise QueryError(f"database {path} not found: run a search or an ingest first, or pass --db")
    try:
        con = duckdb.connect(str(path), read_only=True, config=SANDBOX_CONFIG)
    except duckdb.Error as error:
        raise QueryError(f"cannot open {path} read-only: {error}") from error
    try:
        if namespace is not None:
            create_namespace_views(con, namespace)
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    except duckdb.Error as error:
        raise QueryError(f"query failed: {error}") from error
    finally:
        con.close()
