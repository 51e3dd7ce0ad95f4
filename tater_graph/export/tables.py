"""Write a selection's node and edge tables as Parquet or CSV with DuckDB ``COPY``.

DuckDB streams the query result into the file and no networkx graph is
built, so Python holds no row. DuckDB's own memory still grows slowly with
the selection (its hash tables for the selected ids, rollout endings and
scores). ``scores`` is a JSON object text column in both formats, so the two
files have the same columns and types; CSV writes NULL as an empty field.
"""

from __future__ import annotations

import os
from pathlib import Path

from tater_graph.errors import ConfigError
from tater_graph.export.atomic import atomic_paths
from tater_graph.export.build import Selection
from tater_graph.store.database import Database

TABLE_FORMATS = ("parquet", "csv")

# DuckDB buffers one Parquet row group per writing thread; its default of 122,880
# rows made the peak memory grow with graphs up to that size, 20,000 keeps it small.
_COPY_OPTIONS = {
    "parquet": "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 20000",
    "csv": "FORMAT csv, HEADER true",
}


def table_paths(path: str | os.PathLike[str], fmt: str) -> tuple[Path, Path]:
    """Return the node and edge file paths for output ``path``: ``NAME.nodes.FMT`` and ``NAME.edges.FMT``.

    A suffix ``.FMT`` on ``path`` is dropped first, so ``out.parquet`` and ``out``
    both give ``out.nodes.parquet`` and ``out.edges.parquet``.

    >>> [p.name for p in table_paths("run-3.parquet", "parquet")]
    ['run-3.nodes.parquet', 'run-3.edges.parquet']
    """
    path = Path(path)
    if path.suffix == f".{fmt}":
        path = path.with_suffix("")
    return path.with_name(f"{path.name}.nodes.{fmt}"), path.with_name(f"{path.name}.edges.{fmt}")


def write_tables(db: Database, selection: Selection, path: str | os.PathLike[str], fmt: str) -> tuple[Path, Path]:
    """Write the node and edge tables of ``selection``; a failure leaves neither file.

    Returns:
        The node table path and the edge table path (see :func:`table_paths`).

    Raises:
        ConfigError: ``fmt`` is not one of :data:`TABLE_FORMATS`.
        ExportError: the output folder does not exist.
    """
    if fmt not in TABLE_FORMATS:
        raise ConfigError(f"unknown table format {fmt!r}: use one of {', '.join(TABLE_FORMATS)}")
    targets = table_paths(path, fmt)
    cursor = db.cursor()
    with atomic_paths(targets) as temporary:
        for (sql, params), target in zip((selection.nodes_query(), selection.edges_query()), temporary):
            # DuckDB takes the file name only as a literal; quotes in it are doubled.
            literal = str(target).replace("'", "''")
            cursor.execute(f"COPY ({sql}) TO '{literal}' ({_COPY_OPTIONS[fmt]})", params)
    return targets
