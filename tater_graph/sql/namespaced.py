"""Per-namespace views for user SQL: a query in one bank sees only its rows.

On the sandboxed read-only connection, each bank table is shadowed by a
temporary view of the same name that keeps only the rows of the namespace
and of the namespaces that granted it read access. A query may name only
those views and its own CTEs, unqualified: a schema- or catalog-qualified
name (``main.nodes``) or a table function (``query_table``, ``read_csv``)
would reach the unfiltered tables, so such queries are rejected. Tables not
listed in :data:`NAMESPACED_TABLES` (including views other migrations add)
are not visible in a namespaced query.
"""

from __future__ import annotations

import re

import duckdb
import sqlglot
from sqlglot import exp

from tater_graph.errors import QueryError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")

# Filters written over the base tables: {cat} is the database catalog, {ns}
# the visible namespaces and {own} the querying namespace, as SQL literals.
_PROBLEMS = "SELECT problem_id FROM {cat}.main.problems WHERE namespace IN ({ns})"
NAMESPACED_TABLES: dict[str, str] = {
    "problems": "namespace IN ({ns})",
    "runs": "namespace IN ({ns})",
    "run_problems": "run_id IN (SELECT run_id FROM {cat}.main.runs WHERE namespace IN ({ns}))",
    "rollouts": f"problem_id IN ({_PROBLEMS})",
    "nodes": f"problem_id IN ({_PROBLEMS})",
    "edges": f"problem_id IN ({_PROBLEMS})",
    "experiences": f"problem_id IN ({_PROBLEMS})",
    "problem_vectors": f"problem_id IN ({_PROBLEMS})",
    "rollout_steps": f"rollout_id IN (SELECT rollout_id FROM {{cat}}.main.rollouts WHERE problem_id IN ({_PROBLEMS}))",
    "node_vectors": f"node_id IN (SELECT node_id FROM {{cat}}.main.nodes WHERE problem_id IN ({_PROBLEMS}))",
    "step_scores": f"node_id IN (SELECT node_id FROM {{cat}}.main.nodes WHERE problem_id IN ({_PROBLEMS}))",
    "namespace_grants": "reader = {own} OR owner = {own}",
    "bank_limits": "namespace = {own}",
    "bank_evictions": "namespace = {own}",
    "meta": "true",
    "schema_version": "true",
}


def check_namespaced_query(sql: str, namespace: str) -> None:
    """Raise QueryError unless ``sql`` names only unqualified bank tables and its own CTEs."""
    _check_name(namespace)
    statement = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    allowed = ", ".join(sorted(NAMESPACED_TABLES))
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise QueryError(f"table functions such as {table.this.sql('duckdb')!r} are not allowed in a query of "
                             f"namespace {namespace!r}: query the tables {allowed}")
        if table.args.get("db") or table.args.get("catalog"):
            raise QueryError(f"qualified table name {table.sql('duckdb')!r} is not allowed in a query of namespace "
                             f"{namespace!r}: write the bare table name, e.g. {table.name!r}")
        name = table.name.lower()
        if name not in NAMESPACED_TABLES and name not in ctes:
            raise QueryError(f"table {table.name!r} is not visible in namespace {namespace!r}: "
                             f"query one of {allowed}")


def create_namespace_views(con: duckdb.DuckDBPyConnection, namespace: str) -> tuple[str, ...]:
    """Shadow every bank table of ``con`` with a view filtered to ``namespace``; return the visible namespaces."""
    _check_name(namespace)
    catalog = _quote_identifier(con.execute("SELECT current_database()").fetchall()[0][0])
    existing = {row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary").fetchall()}
    visible = [namespace]
    if "namespace_grants" in existing:
        owners = con.execute(f"SELECT owner FROM {catalog}.main.namespace_grants WHERE reader = ? ORDER BY owner",
                             [namespace]).fetchall()
        visible += [row[0] for row in owners if row[0] != namespace]

    literals = ", ".join(_quote_literal(name) for name in visible)
    for table, condition in NAMESPACED_TABLES.items():
        if table not in existing:
            continue
        where = condition.format(cat=catalog, ns=literals, own=_quote_literal(namespace))
        con.execute(f"CREATE TEMP VIEW {table} AS SELECT * FROM {catalog}.main.{table} WHERE {where}")
    return tuple(visible)


def _check_name(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAME.match(namespace):
        raise QueryError(f"invalid namespace {namespace!r}: use 1 to 128 letters, digits and _ . : / -")


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote_identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
