"""The two sandbox layers, limits and error reports of user SQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from sql_helpers import build_small_graph, read_cases
from tater_graph import StepGraph, errors
from tater_graph.errors import (
    DatabaseLockedError,
    InvalidQueryError,
    QueryError,
    QueryRejectedError,
    QueryRowLimitError,
    QueryTimeoutError,
)
from tater_graph.sql import SandboxLimits, check_query, open_sandbox, query, run_sandboxed

ATTACKS = read_cases("attacks.sql")
LEGITIMATE = read_cases("legitimate.sql")


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    return build_small_graph(tmp_path_factory.mktemp("sql") / "small.duckdb")


def _graph_counts(path) -> tuple[int, ...]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM edges), "
                           "(SELECT count(*) FROM meta), (SELECT count(*) FROM duckdb_tables())").fetchone()
    finally:
        con.close()


def test_attack_fixture_lists_required_cases():
    titles = " | ".join(case.title for case in ATTACKS).lower()
    sqls = " | ".join(case.sql for case in ATTACKS).upper()
    for keyword in ("READ_CSV(", "READ_TEXT(", "READ_PARQUET(", "GLOB(", "COPY (", "EXPORT DATABASE", "ATTACH ",
                    "DETACH ", "INSTALL ", "LOAD ", "SET ", "PRAGMA ", "CALL ", "CHECKPOINT", "VACUUM",
                    "DELETE FROM", "UPDATE NODES", "INSERT INTO", "SELECT 1;;", "; -- COMMENT"):
        assert keyword in sqls, keyword
    for title in ("inside a cte", "two statements"):
        assert title in titles


@pytest.mark.parametrize("case", ATTACKS, ids=[case.title for case in ATTACKS])
def test_attack_rejected_with_clear_error(small_db, case):
    before = _graph_counts(small_db)

    with pytest.raises(QueryError) as raised:
        query(small_db, case.sql)

    assert type(raised.value).__name__ == case.error_class
    assert isinstance(raised.value, getattr(errors, case.error_class))
    assert case.error_message in str(raised.value)
    assert _graph_counts(small_db) == before


@pytest.mark.parametrize("case", [c for c in ATTACKS if c.sql and not c.duckdb_layer_runs],
                         ids=[c.title for c in ATTACKS if c.sql and not c.duckdb_layer_runs])
def test_attack_rejected_by_duckdb_layer_alone(small_db, case):
    before = _graph_counts(small_db)

    with pytest.raises(QueryError):
        run_sandboxed(small_db, case.sql)

    assert _graph_counts(small_db) == before


@pytest.mark.parametrize("case", LEGITIMATE, ids=[case.title for case in LEGITIMATE])
def test_legitimate_query_runs(small_db, case):
    rows = query(small_db, case.sql).fetchall()

    if case.rows is not None:
        assert len(rows) == case.rows


@pytest.mark.parametrize("statement", [
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SELECT * FROM read_csv('/etc/passwd')",
    "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "CREATE TABLE graph.main.stolen AS SELECT 1",
    "DELETE FROM nodes",
    "INSTALL httpfs",
])
def test_raw_sandbox_connection_cannot_escape(small_db, tmp_path, statement):
    con = open_sandbox(small_db)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(statement.format(tmp=tmp_path))
    finally:
        con.close()
    assert list(tmp_path.iterdir()) == []


def test_sandbox_settings_are_locked(small_db):
    con = open_sandbox(small_db)
    try:
        settings = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'autoinstall_known_extensions', 'autoload_known_extensions')").fetchall())
    finally:
        con.close()

    assert settings == {"enable_external_access": "false", "lock_configuration": "true",
                        "autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_timeout_stops_long_query(small_db):
    with pytest.raises(QueryTimeoutError) as raised:
        query(small_db, "SELECT count(*) FROM range(1000000000000)", limits=SandboxLimits(timeout_s=0.3))

    assert "longer than 0.3 s" in str(raised.value)
    assert "--timeout" in str(raised.value)


def test_row_limit_stops_large_result(small_db):
    with pytest.raises(QueryRowLimitError) as raised:
        query(small_db, "SELECT * FROM graph_nodes", limits=SandboxLimits(max_rows=5))

    assert "more than 5 rows" in str(raised.value)
    assert "--max-rows" in str(raised.value)


def test_row_limit_allows_exact_count(small_db):
    rows = query(small_db, "SELECT * FROM graph_nodes", limits=SandboxLimits(max_rows=9)).fetchall()

    assert len(rows) == 9


def test_limits_validated():
    with pytest.raises(errors.ConfigError, match="max_rows"):
        SandboxLimits(max_rows=0)
    with pytest.raises(errors.ConfigError, match="timeout_s"):
        SandboxLimits(timeout_s=0)


def test_unknown_column_suggests_closest(small_db):
    with pytest.raises(InvalidQueryError) as raised:
        query(small_db, "SELECT node_id,\n       valeu\nFROM graph_nodes")

    error = raised.value
    assert (error.line, error.column) == (2, 8)
    assert error.suggestion == "value"
    assert "Did you mean 'value'?" in str(error)
    assert "  2 |        valeu\n    |        ^^^^^" in str(error)


def test_error_column_counts_characters(small_db):
    with pytest.raises(InvalidQueryError) as raised:
        query(small_db, "SELECT 'ééé€' AS x, valeu FROM graph_nodes")

    assert raised.value.column == 21
    assert "    |                     ^^^^^" in str(raised.value)


def test_unknown_view_suggests_closest(small_db):
    with pytest.raises(InvalidQueryError) as raised:
        query(small_db, "SELECT * FROM graph_node")

    assert raised.value.suggestion == "graph_nodes"
    assert (raised.value.line, raised.value.column) == (1, 15)


def test_unknown_macro_suggests_closest(small_db):
    with pytest.raises(InvalidQueryError) as raised:
        query(small_db, "SELECT * FROM best_paths(1)")

    assert raised.value.suggestion == "best_path"


def test_syntax_error_marks_spot(small_db):
    with pytest.raises(InvalidQueryError) as raised:
        query(small_db, "SELECT *\nFROM graph_nodes\nWHERE depth >")

    assert raised.value.line == 3
    assert "syntax error at line 3" in str(raised.value)
    assert "  3 | WHERE depth >" in str(raised.value)


def test_duckdb_parser_error_marks_spot(small_db):
    with pytest.raises(InvalidQueryError) as raised:
        run_sandboxed(small_db, "SELECT * FORM graph_nodes")

    assert (raised.value.line, raised.value.column) == (1, 15)
    assert "    |               ^" in str(raised.value)


def test_postgres_dialect_transpiled(small_db):
    sql = "SELECT node_id::text AS id, step_text ILIKE '%apples%' AS about_apples FROM graph_nodes ORDER BY 1 LIMIT 2"
    rows = query(small_db, sql, dialect="postgres").fetchall()

    assert rows == [("1", False), ("2", True)]


def test_sqlite_dialect_transpiled(small_db):
    rows = query(small_db, "SELECT ifnull(answer, 'none') FROM graph_nodes WHERE node_id = 1", dialect="sqlite")

    assert rows.fetchall() == [("none",)]


def test_transpiled_query_error_shows_transpiled_text(small_db):
    with pytest.raises(InvalidQueryError) as raised:
        query(small_db, "SELECT valeu::text FROM graph_nodes", dialect="postgres")

    assert raised.value.suggestion == "value"
    assert "In the transpiled query:" in str(raised.value)
    assert "CAST(valeu AS TEXT)" in str(raised.value)


def test_unknown_dialect_lists_choices():
    with pytest.raises(QueryError, match="unknown SQL dialect 'postgress'"):
        check_query("SELECT 1", dialect="postgress")


def test_relation_converts_to_arrow(small_db):
    relation = query(small_db, "SELECT node_id, value FROM graph_nodes ORDER BY node_id")

    table = relation.to_arrow_table()

    assert table.column_names == ["node_id", "value"]
    assert table.num_rows == 9


def test_relation_converts_to_pandas_and_polars(small_db):
    relation = query(small_db, "SELECT node_id FROM graph_nodes")
    pytest.importorskip("pandas")
    pytest.importorskip("polars")

    assert len(relation.df()) == 9
    assert relation.pl().height == 9


def test_missing_database_error(tmp_path):
    with pytest.raises(QueryError, match="not found"):
        query(tmp_path / "none.duckdb", "SELECT 1")


def test_file_open_in_same_process_error(tmp_path):
    path = build_small_graph(tmp_path / "g.duckdb")

    with StepGraph.open(path) as graph:
        with pytest.raises(QueryError, match="already open for writing in this process"):
            query(path, "SELECT 1")
        assert graph.sql("SELECT count(*) FROM nodes").fetchall() == [(9,)]


def test_read_only_graph_in_same_process_allowed(tmp_path):
    path = build_small_graph(tmp_path / "g.duckdb")

    with StepGraph.open(path, read_only=True) as graph:
        rows = query(path, "SELECT count(*) FROM graph_nodes").fetchall()
        trusted = graph.sql("SELECT count(*) FROM nodes").fetchall()

    assert rows == trusted == [(9,)]


def test_writer_in_other_process_gives_lock_error(tmp_path):
    path = build_small_graph(tmp_path / "g.duckdb")
    holder = textwrap.dedent(f"""
        import sys, duckdb
        con = duckdb.connect({str(path)!r})
        print("ready", flush=True)
        sys.stdin.readline()
    """)
    writer = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseLockedError) as raised:
            query(path, "SELECT 1")
    finally:
        writer.communicate("\n", timeout=30)

    assert f"process {writer.pid}" in str(raised.value)
    assert "open for writing" in str(raised.value)


def test_rejected_names_statement_keyword():
    with pytest.raises(QueryRejectedError, match="^VACUUM statements are not allowed"):
        check_query("VACUUM")


def test_memory_limit_stops_large_query(small_db):
    sql = "SELECT list(i) FROM range(50000000) t(i)"

    with pytest.raises(QueryError) as raised:
        query(small_db, sql, limits=SandboxLimits(memory_limit="20MB"))

    assert "ran out of memory" in str(raised.value)
    assert "--memory-limit" in str(raised.value)


def test_invalid_memory_limit_is_config_error(small_db):
    with pytest.raises(errors.ConfigError, match="invalid sandbox limits"):
        query(small_db, "SELECT 1", limits=SandboxLimits(memory_limit="lots"))
