"""The documented views and graph macros of migration 0002, and their docs in the catalog."""

from __future__ import annotations

import duckdb
import pytest

from sql_helpers import REPO, build_small_graph
from tater_graph.sql import query

VIEWS = ("graph_problems", "graph_runs", "graph_rollouts", "graph_nodes", "graph_edges", "graph_rollout_paths",
         "graph_experiences", "graph_primary_parents", "graph_ranked_children")
MACROS = ("path_to_root", "subtree", "children", "best_path")


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    return build_small_graph(tmp_path_factory.mktemp("views") / "small.duckdb")


def _node_id(db, step_text: str, depth: int) -> int:
    rows = query(db, f"SELECT node_id FROM graph_nodes WHERE step_text = '{step_text}' AND depth = {depth}").fetchall()
    assert len(rows) == 1
    return rows[0][0]


def test_every_view_and_column_documented(small_db):
    undocumented = query(small_db, f"""
        SELECT table_name || '.' || column_name FROM duckdb_columns()
        WHERE table_name IN {VIEWS} AND (comment IS NULL OR comment = '')
    """).fetchall()
    views = dict(query(small_db, "SELECT view_name, comment FROM duckdb_views() WHERE view_name LIKE 'graph_%'")
                 .fetchall())

    assert undocumented == []
    assert set(views) == set(VIEWS)
    assert all(views.values())


def test_every_internal_table_documented(small_db):
    tables = query(small_db, "SELECT table_name, comment FROM duckdb_tables() WHERE table_name != 'schema_version'")
    value_doc = query(small_db, "SELECT comment FROM duckdb_columns() WHERE table_name = 'nodes' "
                                "AND column_name = 'value'").fetchall()

    assert all(comment for _, comment in tables.fetchall())
    assert value_doc == [("(successes + 1) / (graded + 2): Beta(1,1) posterior mean.",)]


def test_every_macro_documented(small_db):
    macros = dict(query(small_db, "SELECT function_name, comment FROM duckdb_functions() "
                                  "WHERE function_type = 'table_macro' AND database_name = 'graph'").fetchall())

    assert set(macros) == set(MACROS)
    assert all(macros[name].startswith(name + "(") for name in MACROS)


def test_problem_view_counts(small_db):
    rows = query(small_db, "SELECT n_rollouts, n_correct, n_nodes, root_node_id FROM graph_problems").fetchall()

    assert rows == [(3, 2, 9, 1)]


def test_node_view_degrees(small_db):
    root = query(small_db, "SELECT is_root, n_children, n_parents FROM graph_nodes WHERE depth = 0").fetchall()
    leaves = query(small_db, "SELECT count(*) FROM graph_nodes WHERE n_children = 0").fetchall()

    assert root == [(True, 2, 0)]
    assert leaves == [(3,)]


def test_rollout_paths_mark_last_step(small_db):
    rows = query(small_db, "SELECT rollout_id, position, is_last FROM graph_rollout_paths "
                           "WHERE rollout_id = 2 ORDER BY position").fetchall()

    assert rows == [(2, 1, False), (2, 2, False), (2, 3, True)]


def test_edge_traversal_share(small_db):
    rows = query(small_db, "SELECT traversals, traversal_share FROM graph_edges WHERE parent_id = 1 "
                           "ORDER BY traversals DESC").fetchall()

    # The root has 3 visits: 2 rollouts start with "He has 2 apples.", 1 with "He buys 3 more apples."
    assert rows == [(2, pytest.approx(2 / 3)), (1, pytest.approx(1 / 3))]


def test_path_to_root_walks_up(small_db):
    wrong_answer = _node_id(small_db, "The answer is 6.", 3)

    rows = query(small_db, f"SELECT hop, depth, step_text FROM path_to_root({wrong_answer})").fetchall()

    assert rows == [(0, 3, "The answer is 6."), (1, 2, "He buys 3 more, so 2 + 3 = 6."),
                    (2, 1, "He has 2 apples."), (3, 0, "")]


def test_path_to_root_depth_bound(small_db):
    wrong_answer = _node_id(small_db, "The answer is 6.", 3)

    rows = query(small_db, f"SELECT hop FROM path_to_root({wrong_answer}, max_depth := 1)").fetchall()

    assert rows == [(0,), (1,)]


def test_subtree_depth_bound(small_db):
    whole = query(small_db, "SELECT distance, node_id FROM subtree(1, max_depth := 10)").fetchall()
    two = query(small_db, "SELECT distance, node_id FROM subtree(1, max_depth := 2)").fetchall()

    assert len(whole) == 9
    assert max(d for d, _ in whole) == 3
    assert len(two) == 6
    assert max(d for d, _ in two) == 2


def test_subtree_of_merged_node_lists_each_parent(tmp_path):
    db = build_small_graph(tmp_path / "g.duckdb")
    con = duckdb.connect(str(db))
    # Join the two orders: an extra edge makes node 9 reachable from node 3 as well.
    con.execute("INSERT INTO edges SELECT 3, 9, 1, 'the answer is 5.', 1")
    con.close()

    rows = query(db, "SELECT distance, parent_id, node_id FROM subtree(1, max_depth := 5) WHERE node_id = 9").fetchall()

    assert rows == [(3, 3, 9), (3, 8, 9)]


def test_children_ranked_by_value(small_db):
    rows = query(small_db, "SELECT rank, step_text, value FROM children(1)").fetchall()

    assert [r[0] for r in rows] == [1, 2]
    assert rows[0][1] == "He buys 3 more apples."
    assert rows[0][2] > rows[1][2]


def test_best_path_follows_top_children(small_db):
    rows = query(small_db, "SELECT hop, step_text, answer FROM best_path(1)").fetchall()

    assert rows == [(0, "", None), (1, "He buys 3 more apples.", None), (2, "He has 2 apples.", None),
                    (3, "The answer is 5.", "5")]


def test_best_path_depth_bound(small_db):
    rows = query(small_db, "SELECT hop FROM best_path(1, max_depth := 2)").fetchall()

    assert rows == [(0,), (1,), (2,)]


def test_best_path_of_unknown_problem_is_empty(small_db):
    assert query(small_db, "SELECT * FROM best_path(999)").fetchall() == []


def _query_surface(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    return {
        "views": con.execute("SELECT view_name, comment, sql FROM duckdb_views() WHERE NOT internal "
                             "ORDER BY view_name").fetchall(),
        "columns": con.execute("SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
                               "ORDER BY table_name, column_index").fetchall(),
        "macros": con.execute("SELECT function_name, comment, parameters, macro_definition FROM duckdb_functions() "
                              "WHERE function_type = 'table_macro' AND NOT internal ORDER BY function_name").fetchall(),
        "tables": con.execute("SELECT table_name, comment FROM duckdb_tables() ORDER BY table_name").fetchall(),
    }


def test_schema_file_matches_migration_views(tmp_path):
    from tater_graph.store.database import Database

    with Database(tmp_path / "migrated.duckdb") as db:
        migrated = _query_surface(db.con)
    reference = duckdb.connect()
    reference.execute((REPO / "schema" / "schema.sql").read_text(encoding="utf-8"))

    assert _query_surface(reference) == migrated
