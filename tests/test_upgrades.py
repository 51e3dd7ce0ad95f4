"""Upgrades: an old database migrates to the fresh schema with its data; newer ones are rejected."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from tater_graph import StepGraph
from tater_graph.check import check_graph
from tater_graph.errors import MigrationError, SchemaVersionError
from tater_graph.store import migrations
from tater_graph.store.database import Database

from cli_helpers import run_main

FIXTURE = Path(__file__).parent / "fixtures" / "schema_0001.duckdb.gz"
TABLES = ("problems", "runs", "run_problems", "rollouts", "nodes", "edges", "rollout_steps", "node_vectors",
          "problem_vectors", "meta")


@pytest.fixture
def old_db(tmp_path) -> Path:
    """A copy of the database written by the first released schema (version 1)."""
    path = tmp_path / "old.duckdb"
    with gzip.open(FIXTURE, "rb") as source, open(path, "wb") as target:
        shutil.copyfileobj(source, target)
    return path


def table_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in TABLES}


def fresh_signature() -> list[tuple]:
    con = duckdb.connect()
    try:
        migrations.migrate(con)
        return migrations.schema_signature(con)
    finally:
        con.close()


def set_version(path: Path, version: int) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("INSERT INTO schema_version (version, name) VALUES (?, 'from_the_future')", [version])
    finally:
        con.close()


def test_fixture_is_schema_version_1(old_db):
    con = duckdb.connect(str(old_db), read_only=True)
    try:
        assert migrations.current_version(con) == 1
        assert con.execute("SELECT count(*) FROM rollouts").fetchall()[0][0] > 0
    finally:
        con.close()


def test_old_database_migrates_to_fresh_schema_keeping_data(old_db):
    con = duckdb.connect(str(old_db), read_only=True)
    before = table_rows(con)
    con.close()

    with Database(old_db) as db:
        version = migrations.current_version(db.con)
        signature = migrations.schema_signature(db.con)
        after = {table: db.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in TABLES}

    assert version == migrations.latest_version()
    assert signature == fresh_signature()
    # Columns added by later migrations extend rows; the old values stay in front.
    for table in TABLES:
        assert [row[: len(old)] for row, old in zip(after[table], before[table])] == before[table], table
        assert len(after[table]) == len(before[table]), table


def test_migrated_database_passes_check(old_db):
    StepGraph.open(old_db).close()  # migrates and rebuilds the index, which the fixture leaves out

    report = check_graph(old_db)

    assert report.ok, report


def test_newer_database_rejected_with_upgrade_message(old_db):
    newer = migrations.latest_version() + 1
    set_version(old_db, newer)
    before = old_db.read_bytes()

    for read_only in (False, True):
        with pytest.raises(SchemaVersionError, match=f"schema version {newer}.*upgrade tater-graph") as caught:
            Database(old_db, read_only=read_only)
        assert str(old_db) in str(caught.value)
    result = run_main(["--db", str(old_db), "stats"])

    assert result.exit_code == 1
    assert "pip install --upgrade tater-graph" in result.stderr
    assert old_db.read_bytes() == before


def test_check_reports_newer_schema(old_db):
    set_version(old_db, migrations.latest_version() + 1)

    report = check_graph(old_db)

    assert "schema-version" in report.failed
    assert "upgrade tater-graph" in report.results[0].detail


def write_migrations(folder: Path, extra: dict[str, str]) -> list[migrations.Migration]:
    folder.mkdir()
    for migration in migrations.load_migrations():
        (folder / f"{migration.version:04d}_{migration.name}.sql").write_text(migration.sql)
    for name, sql in extra.items():
        (folder / name).write_text(sql)
    return migrations.load_migrations(folder)


def test_failing_migration_leaves_version_unchanged(old_db, tmp_path):
    latest = migrations.latest_version()
    good = f"{latest + 1:04d}_add_note.sql"
    bad = f"{latest + 2:04d}_half_done.sql"
    folder_migrations = write_migrations(tmp_path / "migrations", {
        good: "ALTER TABLE problems ADD COLUMN note VARCHAR;",
        # The first two statements succeed, the third fails: all three must roll back.
        bad: ("CREATE TABLE half_done (x INTEGER);\n"
              "ALTER TABLE nodes ADD COLUMN half_done_flag BOOLEAN;\n"
              "INSERT INTO no_such_table VALUES (1);\n"),
    })
    with Database(old_db) as db:
        before = table_rows(db.con)

        with pytest.raises(MigrationError, match=f"{bad} failed and was rolled back.*version {latest + 1}"):
            migrations.migrate(db.con, folder_migrations)

        version = migrations.current_version(db.con)
        tables = {row[0] for row in db.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        node_columns = {row[0] for row in db.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'nodes'").fetchall()}
        after = table_rows(db.con)

    assert version == latest + 1
    assert "half_done" not in tables
    assert "half_done_flag" not in node_columns
    assert {t: rows for t, rows in after.items() if t != "problems"} == \
        {t: rows for t, rows in before.items() if t != "problems"}
    assert [row[:-1] for row in after["problems"]] == before["problems"]


def test_migration_numbering_gap_rejected(tmp_path):
    folder = tmp_path / "gapped"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0003_c.sql").write_text("CREATE TABLE c (x INTEGER);")

    with pytest.raises(MigrationError, match="expected 0002"):
        migrations.load_migrations(folder)
