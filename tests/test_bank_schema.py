"""The bank tables and columns of migration 0004 match schema/schema.sql."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tater_graph.store.database import Database

BANK_TABLES = ("nodes", "runs", "bank_limits", "namespace_grants", "bank_evictions")
COLUMNS = ("SELECT table_name, column_name, data_type, column_default, is_nullable FROM information_schema.columns "
           "WHERE table_name IN {tables} ORDER BY table_name, ordinal_position")


def test_schema_file_matches_migrations(tmp_path):
    query = COLUMNS.format(tables=BANK_TABLES)
    with Database(tmp_path / "migrated.duckdb") as db:
        migrated = db.con.execute(query).fetchall()
    reference = duckdb.connect()
    reference.execute((Path(__file__).parents[1] / "schema" / "schema.sql").read_text())

    assert reference.execute(query).fetchall() == migrated
