"""Select parts of the stored step DAGs and build networkx graphs from them.

A :class:`Selection` is a SQL query for a set of node ids plus the graph
attributes that describe it. The same selection feeds :func:`build_graph`
(a ``networkx.DiGraph`` in memory), :func:`export_selection` (GraphML, GEXF,
JSON or DOT written while the rows stream from DuckDB) and the table writer
(DuckDB ``COPY`` straight to Parquet or CSV).

Known limit: the node attributes are the stored totals over every rollout
that passed through a node, also in a run's graph, which shows the nodes the
run touched with their counts from all runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import networkx as nx

from tater_graph.errors import ConfigError, NotFoundError
from tater_graph.export.writers import GraphRows, WriteResult, write_rows
from tater_graph.store.database import Database

logger = logging.getLogger(__name__)

# Rows fetched from DuckDB per Arrow record batch while building a graph.
BATCH_ROWS = 10_000
DIRECTIONS = ("both", "out", "in")

# One row per selected node. ``correct`` is the majority grade of the graded
# rollouts that ended at the node, NULL when none of them is graded.
_NODES_SQL = """
WITH selected AS ({selection}),
latest AS (
    SELECT node_id, scorer, arg_max(score, created_at) AS score
    FROM step_scores WHERE node_id IN (SELECT node_id FROM selected) GROUP BY ALL
),
scores AS (SELECT node_id, json_group_object(scorer, score)::VARCHAR AS scores FROM latest GROUP BY ALL),
endings AS (
    SELECT terminal_node_id AS node_id, count(is_correct) AS terminal_graded,
           count(*) FILTER (WHERE is_correct) AS terminal_correct
    FROM rollouts
    WHERE terminal_node_id IN (SELECT node_id FROM selected) AND (error IS NULL OR n_steps > 0)
    GROUP BY ALL
)
SELECT n.node_id, n.problem_id, n.depth, n.step_text, n.step_norm, n.visits, n.graded, n.successes, n.value,
       n.terminal_visits > 0 AS terminal, n.terminal_visits,
       coalesce(e.terminal_graded, 0) AS terminal_graded, coalesce(e.terminal_correct, 0) AS terminal_correct,
       CASE WHEN coalesce(e.terminal_graded, 0) = 0 THEN NULL
            ELSE e.terminal_correct * 2 > e.terminal_graded END AS correct,
       n.answer, n.score, coalesce(s.scores, '{{}}') AS scores
FROM nodes n
LEFT JOIN endings e USING (node_id)
LEFT JOIN scores s USING (node_id)
WHERE n.node_id IN (SELECT node_id FROM selected)
"""

_EDGES_SQL = """
WITH selected AS ({selection})
SELECT parent_id, child_id, problem_id, step_norm, traversals
FROM edges
WHERE parent_id IN (SELECT node_id FROM selected) AND child_id IN (SELECT node_id FROM selected)
"""

NODE_ATTRIBUTES = ("problem_id", "depth", "step_text", "step_norm", "visits", "graded", "successes", "value",
                   "terminal", "terminal_visits", "terminal_graded", "terminal_correct", "correct", "answer",
                   "score", "scores")
EDGE_ATTRIBUTES = ("problem_id", "step_norm", "traversals")


@dataclass(frozen=True)
class Selection:
    """A set of nodes to export: a query returning a ``node_id`` column, and its parameters.

    Attributes:
        name: short description used in file names and messages, e.g. ``problem-3``.
        node_sql: a SELECT whose rows are the chosen node ids.
        params: the values of the ``?`` placeholders in ``node_sql``.
        graph_attributes: attributes of the whole graph (question, run id, ...).
    """

    name: str
    node_sql: str
    params: tuple = ()
    graph_attributes: dict = field(default_factory=dict)

    def nodes_query(self, ordered: bool = False) -> tuple[str, list]:
        """Return the SQL and parameters of the node table of this selection.

        ``ordered`` sorts by node id. Unsorted is the default for streaming,
        because a sort keeps every row in memory before it returns the first.
        """
        sql = _NODES_SQL.format(selection=self.node_sql) + ("ORDER BY n.node_id" if ordered else "")
        return sql, list(self.params)

    def edges_query(self, ordered: bool = False) -> tuple[str, list]:
        """Return the SQL and parameters of the edges between selected nodes (``ordered``: by parent, child)."""
        sql = _EDGES_SQL.format(selection=self.node_sql) + ("ORDER BY parent_id, child_id" if ordered else "")
        return sql, list(self.params)


def _fetch_one(db: Database, sql: str, key: int, missing: str) -> tuple:
    """Return the single row ``sql`` selects for ``key``; raise NotFoundError with ``missing`` when there is none."""
    rows = db.cursor().execute(sql, [key]).fetchall()
    if not rows:
        raise NotFoundError(missing)
    return rows[0]


def select_problem(db: Database, problem_id: int) -> Selection:
    """Select every node of one problem's DAG.

    Raises:
        NotFoundError: no problem has this id.
    """
    question, gold_answer, dataset, source_id = _fetch_one(
        db, "SELECT question, gold_answer, dataset, source_id FROM problems WHERE problem_id = ?", problem_id,
        f"problem {problem_id} not found: list problems with "
        "`tater-graph sql \"SELECT problem_id, question FROM problems\"`")
    attributes = {"problem_id": problem_id, "question": question, "gold_answer": gold_answer, "dataset": dataset,
                  "source_id": source_id}
    return Selection(f"problem-{problem_id}", "SELECT node_id FROM nodes WHERE problem_id = ?", (problem_id,),
                     attributes)


def select_run(db: Database, run_id: int) -> Selection:
    """Select the nodes one run's rollouts passed through, with the roots of its problems.

    Raises:
        NotFoundError: no run has this id.
    """
    strategy, dataset, model, status = _fetch_one(
        db, "SELECT strategy, dataset, model, status FROM runs WHERE run_id = ?", run_id,
        f"run {run_id} not found: list runs with "
        "`tater-graph sql \"SELECT run_id, strategy, started_at FROM runs\"`")
    node_sql = (
        "SELECT s.node_id FROM rollout_steps s JOIN rollouts r USING (rollout_id) WHERE r.run_id = ? "
        "UNION SELECT terminal_node_id FROM rollouts WHERE run_id = ? "
        "UNION SELECT node_id FROM nodes WHERE depth = 0 AND problem_id IN "
        "(SELECT problem_id FROM rollouts WHERE run_id = ? UNION SELECT problem_id FROM run_problems WHERE run_id = ?)"
    )
    attributes = {"run_id": run_id, "strategy": strategy, "dataset": dataset, "model": model, "status": status}
    return Selection(f"run-{run_id}", node_sql, (run_id,) * 4, attributes)


def select_problems(db: Database, *, problem_ids: tuple[int, ...] = (), dataset: str | None = None,
                    namespace: str | None = None, limit: int | None = None) -> Selection:
    """Select the DAGs of every problem that matches all the given filters, lowest problem ids first.

    Args:
        problem_ids: keep only these problems (empty: no id filter).
        dataset: keep only problems of this dataset, e.g. ``gsm8k``.
        namespace: keep only problems of this namespace.
        limit: keep at most this many problems.

    Raises:
        ConfigError: ``limit`` is below 1.
        NotFoundError: no problem matches.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"invalid problem limit {limit}: use 1 or more, or no limit")
    conditions, params = [], []
    if problem_ids:
        conditions.append("problem_id IN (SELECT unnest(?::BIGINT[]))")
        params.append(list(problem_ids))
    if dataset is not None:
        conditions.append("dataset = ?")
        params.append(dataset)
    if namespace is not None:
        conditions.append("namespace = ?")
        params.append(namespace)
    where = " AND ".join(conditions) or "true"
    problems_sql = f"SELECT problem_id FROM problems WHERE {where} ORDER BY problem_id"
    if limit is not None:
        problems_sql += f" LIMIT {int(limit)}"

    chosen = [row[0] for row in db.cursor().execute(problems_sql, params).fetchall()]
    if not chosen:
        raise NotFoundError(f"no problem matches {_describe_filter(problem_ids, dataset, namespace)}: list problems "
                            "with `tater-graph sql \"SELECT problem_id, dataset, namespace FROM problems\"`")
    attributes = {"problem_ids": chosen, "dataset": dataset, "namespace": namespace}
    return Selection(f"problems-{len(chosen)}", "SELECT node_id FROM nodes WHERE problem_id IN "
                     "(SELECT unnest(?::BIGINT[]))", (chosen,), attributes)


def _describe_filter(problem_ids: tuple[int, ...], dataset: str | None, namespace: str | None) -> str:
    parts = [f"problem_ids={list(problem_ids)}"] if problem_ids else []
    parts += [f"{name}={value!r}" for name, value in (("dataset", dataset), ("namespace", namespace)) if value]
    return ", ".join(parts) or "the filter"


def select_neighbourhood(db: Database, node_id: int, depth: int = 1, direction: str = "both") -> Selection:
    """Select the nodes at most ``depth`` edges away from ``node_id``.

    Args:
        node_id: the centre node.
        depth: the maximum number of edges from the centre (0 selects the centre alone).
        direction: ``out`` follows edges to children, ``in`` to parents, ``both`` either way.

    Raises:
        ConfigError: ``depth`` is negative or ``direction`` is not one of :data:`DIRECTIONS`.
        NotFoundError: no node has this id.
    """
    if depth < 0:
        raise ConfigError(f"invalid neighbourhood depth {depth}: use 0 or more")
    if direction not in DIRECTIONS:
        raise ConfigError(f"invalid direction {direction!r}: use one of {', '.join(DIRECTIONS)}")
    cursor = db.cursor()
    found = cursor.execute("SELECT problem_id FROM nodes WHERE node_id = ?", [node_id]).fetchall()
    if not found:
        raise NotFoundError(f"node {node_id} not found: list nodes with "
                            "`tater-graph sql \"SELECT node_id, problem_id, step_text FROM nodes\"`")

    chosen = _breadth_first(cursor, node_id, depth, direction)
    attributes = {"centre_node_id": node_id, "problem_id": found[0][0], "depth": depth, "direction": direction}
    return Selection(f"node-{node_id}-depth-{depth}", "SELECT unnest(?::BIGINT[]) AS node_id", (sorted(chosen),),
                     attributes)


def _breadth_first(cursor: duckdb.DuckDBPyConnection, start: int, depth: int, direction: str) -> set[int]:
    """Return the node ids within ``depth`` edges of ``start``, one SQL query per level."""
    seen = {start}
    frontier = deque([start])
    for _ in range(depth):
        if not frontier:
            break
        ids = list(frontier)
        queries = []
        if direction in ("both", "out"):
            queries.append("SELECT child_id FROM edges WHERE parent_id IN (SELECT unnest(?::BIGINT[]))")
        if direction in ("both", "in"):
            queries.append("SELECT parent_id FROM edges WHERE child_id IN (SELECT unnest(?::BIGINT[]))")
        rows = cursor.execute(" UNION ".join(queries), [ids] * len(queries)).fetchall()
        frontier = deque(row[0] for row in rows if row[0] not in seen)
        seen.update(frontier)
    return seen


def _duckdb_type(name: str) -> type:
    """Return the Python type GraphML and GEXF declare for a DuckDB column type."""
    if name == "BOOLEAN":
        return bool
    if name in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"):
        return int
    if name in ("FLOAT", "DOUBLE") or name.startswith("DECIMAL"):
        return float
    return str


def _column_types(cursor: duckdb.DuckDBPyConnection, query: tuple[str, list], skip: tuple[str, ...]) -> dict:
    sql, params = query
    relation = cursor.sql(f"SELECT * FROM ({sql}) LIMIT 0", params=params)
    return {name: _duckdb_type(str(kind)) for name, kind in zip(relation.columns, relation.types) if name not in skip}


def _batches(cursor: duckdb.DuckDBPyConnection, query: tuple[str, list]) -> Iterator[dict]:
    sql, params = query
    for batch in cursor.sql(sql, params=params).to_arrow_reader(BATCH_ROWS):
        yield from batch.to_pylist()


def _node_rows(cursor: duckdb.DuckDBPyConnection, selection: Selection, ordered: bool) -> Iterator[tuple[int, dict]]:
    for row in _batches(cursor, selection.nodes_query(ordered)):
        row["scores"] = json.loads(row["scores"])
        yield row.pop("node_id"), row


def _edge_rows(cursor: duckdb.DuckDBPyConnection, selection: Selection,
               ordered: bool) -> Iterator[tuple[int, int, dict]]:
    for row in _batches(cursor, selection.edges_query(ordered)):
        yield row.pop("parent_id"), row.pop("child_id"), row


def selection_rows(db: Database, selection: Selection, ordered: bool = False) -> GraphRows:
    """Return the selection as :class:`GraphRows` that read DuckDB in Arrow batches of :data:`BATCH_ROWS`.

    Node and edge queries run on separate cursors, so the edges can be read
    while the node reader is still open. Without ``ordered``, rows come in
    DuckDB's scan order, which is node id order for the stored tables as
    long as DuckDB's ``preserve_insertion_order`` setting is on (the default).
    """
    node_cursor, edge_cursor = db.cursor(), db.cursor()
    node_types = _column_types(node_cursor, selection.nodes_query(), skip=("node_id",))
    edge_types = _column_types(edge_cursor, selection.edges_query(), skip=("parent_id", "child_id"))
    return GraphRows(dict(selection.graph_attributes), node_types, edge_types, _node_rows(node_cursor, selection, ordered),
                     _edge_rows(edge_cursor, selection, ordered))


def export_selection(db: Database, selection: Selection, path: str | os.PathLike[str], fmt: str) -> WriteResult:
    """Write ``selection`` in a graph format straight from DuckDB, without building a networkx graph.

    Memory stays bounded by one Arrow batch, whatever the number of nodes.

    Raises:
        ConfigError: ``fmt`` is not one of :data:`tater_graph.export.writers.FORMATS`.
        ExportError: the output folder does not exist.
    """
    result = write_rows(selection_rows(db, selection), path, fmt)
    logger.info("wrote %s to %s: %d nodes, %d edges", selection.name, result.path, result.nodes, result.edges)
    return result


def build_graph(db: Database, selection: Selection) -> nx.DiGraph:
    """Build a DiGraph of the selected nodes and the edges between them.

    Nodes are keyed by node id and carry :data:`NODE_ATTRIBUTES`, edges carry
    :data:`EDGE_ATTRIBUTES`. Rows arrive from DuckDB in Arrow batches of
    :data:`BATCH_ROWS`, but the finished graph is in memory as a whole.
    """
    graph = nx.DiGraph(**selection.graph_attributes)
    rows = selection_rows(db, selection, ordered=True)
    graph.add_nodes_from(rows.nodes)
    graph.add_edges_from(rows.edges)
    logger.info("built %s: %d nodes, %d edges", selection.name, graph.number_of_nodes(), graph.number_of_edges())
    return graph


def problem_graph(db: Database, problem_id: int) -> nx.DiGraph:
    """Return the DAG of one problem (see :func:`build_graph` for the attributes).

    Raises:
        NotFoundError: no problem has this id.
    """
    return build_graph(db, select_problem(db, problem_id))


def run_graph(db: Database, run_id: int) -> nx.DiGraph:
    """Return the nodes and edges one run's rollouts passed through.

    Raises:
        NotFoundError: no run has this id.
    """
    return build_graph(db, select_run(db, run_id))


def neighbourhood_graph(db: Database, node_id: int, depth: int = 1, direction: str = "both") -> nx.DiGraph:
    """Return the nodes at most ``depth`` edges from ``node_id`` (see :func:`select_neighbourhood`)."""
    return build_graph(db, select_neighbourhood(db, node_id, depth, direction))


def problems_graph(db: Database, **filters) -> nx.DiGraph:
    """Return the union of the DAGs of the problems matching ``filters`` (see :func:`select_problems`)."""
    return build_graph(db, select_problems(db, **filters))
