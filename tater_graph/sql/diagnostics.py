"""Turn DuckDB errors on user SQL into messages with the spot marked and a close name.

DuckDB reports errors as JSON when ``errors_as_json`` is on: the message,
the character offset of the error in the query (``position``), and for
missing names the name and its kind. This module renders that offset as
line and column with the query underneath and a caret under the spot, and
looks up the closest known name in the catalog with :mod:`difflib`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

_TRAILING_HINT = re.compile(r"\n(Did you mean|Candidate bindings|Candidate tables).*", re.DOTALL)
_QUOTED_NAME = re.compile(r'"([^"]+)"')


def line_column(text: str, offset: int) -> tuple[int, int]:
    """Return the 1-based (line, column) of a 0-based character offset.

    >>> line_column("SELECT 1\\nFROM t", 9)
    (2, 1)
    """
    offset = max(0, min(offset, len(text)))
    before = text[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return line, column


def char_offset(text: str, byte_offset: int) -> int:
    """Convert DuckDB's error position, a byte offset into the UTF-8 query, to a character offset.

    >>> char_offset("SELECT 'é', x", 13)
    12
    """
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def mark_position(text: str, offset: int, length: int = 1) -> str:
    """Return the query with line numbers and a caret under the character at ``offset``.

    >>> print(mark_position("SELECT *\\nFORM nodes", 9, 4))
      1 | SELECT *
      2 | FORM nodes
        | ^^^^
    """
    line, column = line_column(text, offset)
    lines = text.splitlines() or [""]
    width = len(str(len(lines)))
    rendered = []
    for number, content in enumerate(lines, start=1):
        rendered.append(f"  {number:>{width}} | {content}")
        if number == line:
            rendered.append(f"  {'':>{width}} | {' ' * (column - 1)}{'^' * max(length, 1)}")
    return "\n".join(rendered)


@dataclass(frozen=True)
class DuckDBErrorDetail:
    """The fields of one DuckDB error reported as JSON.

    Attributes:
        kind: DuckDB's exception type, such as ``Binder`` or ``Parser``.
        message: the message without DuckDB's own suggestions.
        position: 0-based byte offset in the UTF-8 query, or None.
        name: the unknown name, for missing tables, columns and functions.
        entry_type: what the unknown name was looked up as (``Table``,
            ``Scalar Function``, ...), or ``Column`` for a missing column.
        candidates: the names DuckDB offers for the spot, if any.
    """

    kind: str
    message: str
    position: int | None = None
    name: str | None = None
    entry_type: str | None = None
    candidates: tuple[str, ...] = ()


def parse_duckdb_error(error: duckdb.Error) -> DuckDBErrorDetail:
    """Read the JSON body of a DuckDB error; fall back to the plain text when it is not JSON."""
    text = str(error)
    start = text.find("{")
    try:
        body = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return DuckDBErrorDetail(kind=type(error).__name__, message=_TRAILING_HINT.sub("", text))

    message = _TRAILING_HINT.sub("", str(body.get("exception_message", text)))
    position = body.get("position")
    subtype = body.get("error_subtype")
    entry_type = "Column" if subtype == "COLUMN_NOT_FOUND" else body.get("type")
    name = body.get("name")
    if name is None and "not found" in message:
        quoted = _QUOTED_NAME.search(message)
        name = quoted.group(1) if quoted else None
        entry_type = entry_type or ("Table" if "table" in message.lower() else None)
    candidates = tuple(c.strip().strip('"') for c in str(body.get("candidates", "")).split(",") if c.strip())
    return DuckDBErrorDetail(
        kind=str(body.get("exception_type", type(error).__name__)),
        message=message,
        position=int(position) if position is not None else None,
        name=name,
        entry_type=entry_type,
        candidates=candidates,
    )


def closest_name(name: str, known: Iterable[str]) -> str | None:
    """Return the known name closest to ``name``, or None when none is close.

    >>> closest_name("graph_node", ["graph_nodes", "graph_edges"])
    'graph_nodes'
    """
    pool = {k.lower(): k for k in known}
    matches = difflib.get_close_matches(name.lower(), list(pool), n=1, cutoff=0.6)
    return pool[matches[0]] if matches else None


def catalog_names(con: duckdb.DuckDBPyConnection, entry_type: str, database: str) -> list[str]:
    """Return the names of one kind in the sandbox catalog: tables and views, columns or functions."""
    if entry_type == "Column":
        query = "SELECT DISTINCT column_name FROM duckdb_columns() WHERE database_name = ?"
    elif "Function" in entry_type or "Macro" in entry_type:
        query = "SELECT DISTINCT function_name FROM duckdb_functions() WHERE database_name IN (?, 'system')"
    else:
        query = ("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                 "UNION SELECT view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal")
        return [row[0] for row in con.execute(query, [database, database]).fetchall()]
    return [row[0] for row in con.execute(query, [database]).fetchall()]
