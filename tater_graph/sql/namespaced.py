"""Per-namespace views for user SQL: a query in one bank reads only that bank's rows.

In the sandbox instance, every table of the attached graph is shadowed by a
temporary view of the same name. DuckDB (2.0, checked by the tests) resolves
unqualified names in the temporary catalog first, for the user's query and
for the bodies of the graph_* views and table macros alike, so those also
read the filtered rows.
A bank table keeps only the rows of the namespace and of the namespaces that
granted it read access. A table this module does not know (one a later
migration adds) is shadowed by an empty view, so it cannot leak rows.

A schema- or catalog-qualified name (``graph.main.nodes``) would reach the
unfiltered table, so a namespaced query may not use one. Table functions
are limited to the graph's table macros and :data:`SAFE_TABLE_FUNCTIONS`.
"""

from __future__ import annotations

import re

import duckdb
import sqlglot
from sqlglot import exp

from tater_graph.errors import QueryError, QueryRejectedError

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
# NOTE: a table missing here is shadowed by an empty view in a namespaced
# query, so a migration that adds a bank table should add its filter here.


SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})


def check_namespaced_query(con: duckdb.DuckDBPyConnection, sql: str, namespace: str, catalog: str) -> None:
    """Raise QueryRejectedError if ``sql`` could read past the namespace views of ``con``."""
    statement = sqlglot.parse_one(sql, read="duckdb")
    macros = set(graph_table_macros(con, catalog))
    for table in statement.find_all(exp.Table):
        if table.args.get("db") or table.args.get("catalog"):
            raise QueryRejectedError(
                f"qualified table name {table.sql('duckdb')!r} is not allowed in a query of namespace "
                f"{namespace!r}, because it bypasses the namespace filter: write the bare name {table.name!r}"
            )
        if isinstance(table.this, exp.Identifier):
            continue
        name = table.this.name.lower() if isinstance(table.this, exp.Anonymous) else table.this.sql_name().lower()
        if name not in macros and name not in SAFE_TABLE_FUNCTIONS:
            raise QueryRejectedError(
                f"table function {name}() is not allowed in a query of namespace {namespace!r}: use the graph "
                f"macros ({', '.join(sorted(macros)) or 'none'}) or {', '.join(sorted(SAFE_TABLE_FUNCTIONS))}"
            )


def graph_table_macros(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    """Return the names of the table macros defined in the attached graph."""
    rows = con.execute("SELECT DISTINCT function_name FROM duckdb_functions() WHERE database_name = ? "
                       "AND function_type = 'table_macro' ORDER BY 1", [catalog]).fetchall()
    return [row[0] for row in rows]


def create_namespace_views(con: duckdb.DuckDBPyConnection, namespace: str, catalog: str) -> tuple[str, ...]:
    """Shadow every table of ``catalog`` with a temporary view filtered to ``namespace``.

    Returns the namespaces whose rows the views show: ``namespace`` first,
    then those that granted it read access.
    """
    _check_name(namespace)
    quoted = _quote_identifier(catalog)
    tables = [row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'", [catalog]
    ).fetchall()]
    visible = [namespace]
    if "namespace_grants" in tables:
        owners = con.execute(f"SELECT owner FROM {quoted}.main.namespace_grants WHERE reader = ? ORDER BY owner",
                             [namespace]).fetchall()
        visible += [row[0] for row in owners if row[0] != namespace]

    literals = ", ".join(_quote_literal(name) for name in visible)
    for table in tables:
        condition = NAMESPACED_TABLES.get(table, "false")
        where = condition.format(cat=quoted, ns=literals, own=_quote_literal(namespace))
        con.execute(f"CREATE TEMP VIEW {_quote_identifier(table)} AS SELECT * FROM {quoted}.main.{_quote_identifier(table)} "
                    f"WHERE {where}")
    return tuple(visible)


def _check_name(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAME.match(namespace):
        raise QueryError(f"invalid namespace {namespace!r}: use 1 to 128 letters, digits and _ . : / -")


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote_identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
