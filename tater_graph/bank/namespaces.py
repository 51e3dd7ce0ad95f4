"""Namespaces (banks) in one database, and the grants that share them.

A namespace reads its own rows and the rows of every namespace that granted
it read access (one level: grants are not transitive). Retrieval in the
planner and user SQL run with :func:`visible_namespaces` as their scope.
"""

from __future__ import annotations

import re

import duckdb

from tater_graph.errors import ConfigError
from tater_graph.store.database import Database

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")


def check_namespace(name: str) -> str:
    """Return ``name`` if it is a valid namespace name; raise ConfigError otherwise.

    >>> check_namespace("team-a/project.1")
    'team-a/project.1'
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"invalid namespace {name!r}: use 1 to 128 letters, digits and _ . : / -, starting with a letter or digit"
        )
    return name


def visible_namespaces(con: duckdb.DuckDBPyConnection, namespace: str) -> tuple[str, ...]:
    """Return ``namespace`` first, then the namespaces that granted it read access, sorted."""
    check_namespace(namespace)
    owners = con.execute(
        "SELECT owner FROM namespace_grants WHERE reader = ? AND owner <> ? ORDER BY owner", [namespace, namespace]
    ).fetchall()
    return (namespace, *[row[0] for row in owners])


def grant(db: Database, reader: str, owner: str) -> bool:
    """Let ``reader`` read the rows of ``owner``; return False when it already could."""
    check_namespace(reader)
    check_namespace(owner)
    if reader == owner:
        raise ConfigError(f"namespace {reader!r} always reads its own rows: grant another namespace")
    with db.transaction() as con:
        exists = con.execute("SELECT count(*) FROM namespace_grants WHERE reader = ? AND owner = ?",
                             [reader, owner]).fetchall()[0][0]
        if not exists:
            con.execute("INSERT INTO namespace_grants (reader, owner) VALUES (?, ?)", [reader, owner])
    return not exists


def revoke(db: Database, reader: str, owner: str) -> bool:
    """Withdraw a grant; return False when there was none."""
    with db.transaction() as con:
        exists = con.execute("SELECT count(*) FROM namespace_grants WHERE reader = ? AND owner = ?",
                             [reader, owner]).fetchall()[0][0]
        con.execute("DELETE FROM namespace_grants WHERE reader = ? AND owner = ?", [reader, owner])
    return bool(exists)
