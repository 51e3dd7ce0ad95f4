"""Numbered migrations, version checks, and the schema reference file."""

from pathlib import Path

import duckdb
import pytest

from tater_graph.errors import MigrationError, SchemaVersionError
from tater_graph.store import migrations as m
from tater_graph.store.database import Database

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema" / "schema.sql"


def describe(con):
    columns = con.execute(
        "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, column_name"
    ).fetchall()
    views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
    macros = con.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN ('macro', 'table_macro') "
        "AND NOT internal ORDER BY 1"
    ).fetchall()
    indexes = con.execute("SELECT index_name, table_name FROM duckdb_indexes() ORDER BY 1").fetchall()
    return columns, views, macros, indexes


def test_schema_file_matches_fresh_migration(tmp_path):
    with Database(tmp_path / "fresh.duckdb") as db:
        migrated = describe(db.con)
    reference = duckdb.connect()
    reference.execute(SCHEMA_FILE.read_text())
    assert describe(reference) == migrated


def test_migration_files_are_numbered_without_gaps():
    loaded = m.load_migrations()
    assert [x.version for x in loaded] == list(range(1, len(loaded) + 1))
    assert all(x.sql.lstrip().startswith("--") for x in loaded), "each migration starts with a comment saying what it does"


def test_fresh_database_is_at_latest_version(db_path):
    with Database(db_path) as db:
        assert m.current_version(db.con) == m.latest_version()
        assert [x.version for x in db.applied] == list(range(1, m.latest_version() + 1))
    with Database(db_path) as db:
        assert db.applied == []


def test_migrate_list_does_not_write(db_path):
    with Database(db_path) as db:
        before = db.con.execute("SELECT count(*) FROM schema_version").fetchall()
        assert m.pending(db.con) == []
        assert db.con.execute("SELECT count(*) FROM schema_version").fetchall() == before


def test_newer_database_is_refused(db_path):
    with Database(db_path) as db:
        db.con.execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
    with pytest.raises(SchemaVersionError, match="upgrade tater-graph"):
        Database(db_path)


def test_failing_migration_leaves_version_unchanged(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_first.sql").write_text("-- first\nCREATE TABLE a (x INTEGER);")
    (folder / "0002_broken.sql").write_text("-- broken\nCREATE TABLE b (y INTEGER);\nSELECT * FROM missing_table;")
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    with pytest.raises(MigrationError, match="0002_broken.sql failed and was rolled back"):
        m.migrate(con, m.load_migrations(folder))
    assert m.current_version(con) == 1
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "a" in tables
    assert "b" not in tables


def test_gap_in_numbering_is_rejected(tmp_path):
    (tmp_path / "0001_a.sql").write_text("-- a\nSELECT 1;")
    (tmp_path / "0003_c.sql").write_text("-- c\nSELECT 1;")
    with pytest.raises(MigrationError, match="expected 0002"):
        m.load_migrations(tmp_path)


def test_bad_file_name_is_rejected(tmp_path):
    (tmp_path / "1_a.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_description.sql"):
        m.load_migrations(tmp_path)


def test_read_only_open_of_old_schema_points_to_migrate(db_path):
    con = duckdb.connect(str(db_path))
    first = m.load_migrations()[:1]
    m.migrate(con, first)
    con.close()
    if m.latest_version() == 1:
        pytest.skip("only one migration exists, so no database can be older than the code")
    with pytest.raises(SchemaVersionError, match="tater-graph --db .* migrate"):
        Database(db_path, read_only=True)
