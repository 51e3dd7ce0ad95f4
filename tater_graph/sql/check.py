"""The first sandbox layer: sqlglot checks that user SQL is one read-only query.

This layer gives clear messages for the common mistakes and attacks, but it is
not the boundary. A plain SELECT can still call a DuckDB function that reads
a file, so :mod:`tater_graph.sql.sandbox` runs every query in a locked-down
DuckDB connection as well. The check fails closed: text that sqlglot cannot
parse, or parses as a ``Command`` (its fallback for statements it does not
know), is rejected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from tater_graph.errors import InvalidQueryError, QueryError, QueryRejectedError
from tater_graph.sql.diagnostics import mark_position

# Statement classes that may not appear anywhere in the tree, nested in a
# CTE or subquery included. getattr skips names that a sqlglot version lacks,
# and the top-level allowlist (exp.Query) still rejects those statements.
_STATEMENT_NAMES = (
    "Insert", "Update", "Delete", "Merge", "Copy", "Create", "Drop", "Alter", "TruncateTable", "Command",
    "Set", "Use", "Pragma", "Attach", "Detach", "Install", "Describe", "Show", "Summarize", "Transaction",
    "Commit", "Rollback", "Analyze", "Cache", "Uncache", "Refresh", "LoadData", "Grant", "Revoke", "Kill",
    "Semicolon", "Into", "Export",
)
DENIED_STATEMENTS = tuple(getattr(exp, name) for name in _STATEMENT_NAMES if hasattr(exp, name))

# Functions that read files, open other databases or run SQL text. DuckDB
# rejects the file readers too once external access is off, but this layer
# names the function in its message.
DENIED_FUNCTIONS = frozenset({
    "glob", "sniff_csv", "query", "query_table", "parquet_metadata", "parquet_schema", "parquet_file_metadata",
    "parquet_kv_metadata", "parquet_bloom_probe", "checkpoint", "force_checkpoint", "getenv", "iceberg_metadata",
    "iceberg_snapshots", "load_extension", "current_setting", "duckdb_secrets", "which_secret",
})
_DENIED_FUNCTION_PATTERN = re.compile(r"^(read_.*|.*_scan|.*_attach|.*_metadata)$")
_FILE_LIKE_TABLE = re.compile(r"[/\\]|\.(csv|tsv|txt|json|jsonl|ndjson|parquet|gz|zst|db|duckdb|sqlite|xlsx|arrow)$",
                              re.IGNORECASE)


@dataclass(frozen=True)
class CheckedQuery:
    """A query that passed the sqlglot layer.

    Attributes:
        sql: the DuckDB SQL to run: the user's text without a trailing
            semicolon, or its transpilation when the dialect is not DuckDB.
        transpiled: True when ``sql`` was transpiled from another dialect,
            so error positions refer to ``sql``, not to the user's text.
    """

    sql: str
    transpiled: bool


def check_query(query: str, dialect: str = "duckdb") -> CheckedQuery:
    """Check that ``query`` is exactly one read-only query and return it as DuckDB SQL.

    Raises:
        InvalidQueryError: the text does not parse (with line, column and the spot marked).
        QueryRejectedError: more than one statement, a statement that is not a
            query, a write nested anywhere, or a function that reads files.
        QueryError: ``dialect`` is not a sqlglot dialect.

    >>> check_query("SELECT 1;").sql
    'SELECT 1'
    >>> check_query("SELECT x FROM t LIMIT 2", dialect="postgres").transpiled
    True
    """
    _check_dialect(dialect)
    text = _strip_one_semicolon(query, dialect)
    statement = _parse_one(text, dialect)

    _check_statement_type(statement, text)
    for node in statement.walk():
        _check_node(node)

    if dialect == "duckdb":
        return CheckedQuery(text, transpiled=False)
    try:
        return CheckedQuery(statement.sql(dialect="duckdb"), transpiled=True)
    except RecursionError as error:
        raise InvalidQueryError("invalid SQL: expressions nested too deeply to translate; simplify the query") from error


def _check_dialect(dialect: str) -> None:
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError as error:
        raise QueryError(f"unknown SQL dialect {dialect!r}: {error}") from error


def _strip_one_semicolon(query: str, dialect: str) -> str:
    """Return the query without one trailing semicolon; reject any text after a semicolon.

    A comment after the semicolon is rejected too: the statement must end the text.
    """
    if not query.strip():
        raise QueryRejectedError("the query is empty: pass one SELECT statement")
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(query)
    except TokenError as error:
        raise InvalidQueryError(f"invalid SQL: {error}") from error

    semicolons = [token for token in tokens if token.token_type == TokenType.SEMICOLON]
    if not semicolons:
        return query.strip()
    first = semicolons[0]
    rest = query[first.end + 1:]
    if first is not tokens[-1] or rest.strip():
        line, column = first.line, first.col
        raise QueryRejectedError(
            f"expected exactly one SQL statement, found more text after the ';' at line {line}, column {column}: "
            f"run one query at a time, with nothing after its semicolon\n{mark_position(query, first.end)}"
        )
    return query[:first.start].strip()


def _parse_one(text: str, dialect: str) -> exp.Expression:
    try:
        with _quiet_sqlglot():
            statements = sqlglot.parse(text, read=dialect)
    except ParseError as error:
        raise _syntax_error(text, error) from error
    except RecursionError as error:  # sqlglot parses nested expressions recursively
        raise InvalidQueryError("invalid SQL: expressions nested too deeply to parse; simplify the query") from error
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise QueryRejectedError(f"expected exactly one SQL statement, got {len(statements)}: run queries one at a time")
    return statements[0]


def _syntax_error(text: str, error: ParseError) -> InvalidQueryError:
    detail = error.errors[0] if error.errors else {}
    line, end_column = detail.get("line"), detail.get("col")
    description = detail.get("description") or str(error)
    if line is None or end_column is None:
        return InvalidQueryError(f"syntax error: {description}")

    # sqlglot reports the column where the offending token ends.
    token = detail.get("highlight") or ""
    column = max(1, end_column - len(token) + 1)
    lines = text.splitlines() or [""]
    offset = sum(len(x) + 1 for x in lines[:line - 1]) + column - 1
    return InvalidQueryError(
        f"syntax error at line {line}, column {column}: {description}\n{mark_position(text, offset, len(token))}",
        line=line, column=column,
    )


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """Hide sqlglot's warning that it falls back to a Command: the check rejects those with a clearer message."""
    sqlglot_logger = logging.getLogger("sqlglot")
    level = sqlglot_logger.level
    sqlglot_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        sqlglot_logger.setLevel(level)


def _check_statement_type(statement: exp.Expression, text: str) -> None:
    if not isinstance(statement, exp.Query) or isinstance(statement, exp.Command):
        keyword = text.split(None, 1)[0].upper()
        raise QueryRejectedError(f"{keyword} statements are not allowed: tater-graph sql runs one read-only SELECT")


def _check_node(node: exp.Expression) -> None:
    if isinstance(node, DENIED_STATEMENTS):
        raise QueryRejectedError(
            f"{node.key.upper()} is not allowed inside a query: tater-graph sql is read-only, so a SELECT "
            "may not contain writes, DDL or settings"
        )
    if isinstance(node, exp.Func):
        name = _function_name(node)
        if name in DENIED_FUNCTIONS or _DENIED_FUNCTION_PATTERN.match(name):
            raise QueryRejectedError(
                f"function {name}() is not allowed: queries may read only the graph's tables and views, "
                "not files, other databases or settings"
            )
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) and _FILE_LIKE_TABLE.search(node.name):
        raise QueryRejectedError(
            f"table {node.name!r} looks like a file path: queries may read only the graph's tables and views"
        )


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()

