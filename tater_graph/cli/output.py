"""Row output shared by the commands that return rows: a table, JSON or JSON lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import click
from rich.console import Console
from rich.table import Table


def _default(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[object]], fmt: str = "table",
               title: str | None = None) -> None:
    """Print rows to stdout as ``table``, ``json`` (one array) or ``jsonl`` (an object a line)."""
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, row)) for row in rows], default=_default, ensure_ascii=False, indent=1))
    elif fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(dict(zip(columns, row)), default=_default, ensure_ascii=False))
    else:
        table = Table(title=title, show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*["NULL" if v is None else _cell(v) for v in row])
        Console().print(table)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
