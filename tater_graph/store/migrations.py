"""Numbered SQL migrations, applied with their version row in one transaction.

Migration files are named ``NNNN_description.sql`` and live in the top-level
``migrations/`` folder of the source tree, shipped as ``tater_graph/migrations``
inside the wheel. A released migration is never edited; a change is a new file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb

from tater_graph.errors import MigrationError, SchemaVersionError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration file: its number, name and SQL text."""

    version: int
    name: str
    sql: str


def migrations_dir() -> Path:
    """Return the folder holding the migration files (in the wheel or the source tree)."""
    packaged = resources.files("tater_graph") / "migrations"
    if packaged.is_dir():
        return Path(str(packaged))
    source = Path(__file__).resolve().parents[2] / "migrations"
    if source.is_dir():
        return source
    raise MigrationError("migration files not found: reinstall tater-graph (pip install --force-reinstall tater-graph)")


def load_migrations(folder: Path | None = None) -> list[Migration]:
    """Read the migration files in version order, checking their numbering.

    Raises:
        MigrationError: a file name does not follow ``NNNN_name.sql``, a
            number repeats, or a number is missing from the sequence.
    """
    folder = folder or migrations_dir()
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"invalid migration file name {path.name!r} in {folder}: use NNNN_description.sql")
        migrations.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))

    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration numbering in {folder} is broken at {migration.version:04d}_{migration.name}.sql: "
                f"expected {expected:04d} (numbers must be 1, 2, 3, ... with no gaps or repeats)"
            )
    return migrations


def latest_version(migrations: list[Migration] | None = None) -> int:
    migrations = load_migrations() if migrations is None else migrations
    return migrations[-1].version if migrations else 0


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """Return the schema version of the open database, 0 for an empty one."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' AND table_schema = 'main'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]


def pending(con: duckdb.DuckDBPyConnection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Return the migrations not yet applied, without writing anything."""
    migrations = load_migrations() if migrations is None else migrations
    version = current_version(con)
    newest = latest_version(migrations)
    if version > newest:
        raise SchemaVersionError(
            f"the database has schema version {version}, newer than this tater-graph supports ({newest}): "
            "upgrade tater-graph (pip install --upgrade tater-graph)"
        )
    return [m for m in migrations if m.version > version]


def migrate(con: duckdb.DuckDBPyConnection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply every pending migration, each in its own transaction with its version row.

    Returns the migrations applied. A failing migration is rolled back whole,
    so the schema version stays at the last migration that succeeded.
    """
    todo = pending(con, migrations)
    if todo and current_version(con) == 0:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
            " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
        )
    for migration in todo:
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(migration.sql)
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [migration.version, migration.name])
            con.execute("COMMIT")
        except duckdb.Error as error:
            con.execute("ROLLBACK")
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name}.sql failed and was rolled back "
                f"(schema stays at version {current_version(con)}): {error}"
            ) from error
        logger.info("applied migration %04d_%s", migration.version, migration.name)
    return todo


def schema_signature(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Return the tables, columns, constraints and indexes of the open database, sorted.

    Two databases with equal signatures have the same schema; a database
    migrated from an old version is compared with a fresh one this way.
    """
    columns = con.execute(
        "SELECT 'column', table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall()
    constraints = con.execute(
        "SELECT 'constraint', table_name, constraint_type, constraint_text, NULL, NULL "
        "FROM duckdb_constraints() WHERE schema_name = 'main'"
    ).fetchall()
    indexes = con.execute(
        "SELECT 'index', table_name, index_name, sql, NULL, NULL FROM duckdb_indexes() WHERE schema_name = 'main'"
    ).fetchall()
    return sorted(columns + constraints + indexes, key=lambda row: tuple(str(v) for v in row))
