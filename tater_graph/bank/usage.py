"""Bank size: the row counts of a namespace and an estimate of its stored bytes.

The byte count estimates the payload a namespace adds to the database file
and the HNSW index. It is not a measurement of the file, because DuckDB
compresses columns and keeps freed blocks for reuse. Per row it counts :data:`ROW_BYTES` for the fixed-width columns
(ids, counters, timestamps) plus the UTF-8 bytes of every text column. Per
vector it counts the float32 array in DuckDB (:data:`VECTOR_BYTES`) and, for
step vectors, its copy in the HNSW index (:data:`INDEX_VECTOR_BYTES`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tater_graph.embedders import DIM
from tater_graph.index import IndexParams

ROW_BYTES = 64
VECTOR_BYTES = DIM * 4
# hnswlib level 0 stores the vector, 2 * M neighbour ids of 4 bytes and an
# 8-byte label per element. The sparse upper levels are left out.
INDEX_VECTOR_BYTES = DIM * 4 + 2 * IndexParams().M * 4 + 8

# SQL expressions of the estimated bytes of one row of each table.
PROBLEM_BYTES_SQL = (f"({ROW_BYTES} + strlen(p.question) + strlen(p.question_hash) + strlen(p.dataset) "
                     "+ coalesce(strlen(p.source_id), 0) + coalesce(strlen(p.gold_answer), 0))")
ROLLOUT_BYTES_SQL = (f"({ROW_BYTES} + strlen(r.source) + coalesce(strlen(r.text), 0) "
                     "+ coalesce(strlen(r.answer), 0) + coalesce(strlen(r.generator), 0) + coalesce(strlen(r.error), 0))")
STEP_BYTES_SQL = f"({ROW_BYTES // 2} + strlen(s.step_text))"
NODE_BYTES_SQL = (f"({ROW_BYTES} + strlen(n.state_key) + strlen(n.step_text) + strlen(n.step_norm) "
                  "+ coalesce(strlen(n.answer), 0))")
EDGE_BYTES_SQL = f"({ROW_BYTES // 2} + strlen(e.step_norm))"


@dataclass(frozen=True)
class BankUsage:
    """Row counts and estimated stored bytes of one namespace."""

    namespace: str
    problems: int
    rollouts: int
    nodes: int
    edges: int
    node_vectors: int
    bytes: int


# Per part of a bank: rows, estimated bytes of the rows, and vectors, filtered by namespace.
_USAGE_QUERIES = {
    "problems": f"SELECT count(*), coalesce(sum({PROBLEM_BYTES_SQL}), 0), count(v.problem_id) FROM problems p "
                "LEFT JOIN problem_vectors v USING (problem_id) WHERE p.namespace = ?",
    "rollouts": f"SELECT count(*), coalesce(sum({ROLLOUT_BYTES_SQL}), 0), 0 FROM rollouts r "
                "JOIN problems p USING (problem_id) WHERE p.namespace = ?",
    "rollout_steps": f"SELECT count(*), coalesce(sum({STEP_BYTES_SQL}), 0), 0 FROM rollout_steps s "
                     "JOIN rollouts r USING (rollout_id) JOIN problems p USING (problem_id) WHERE p.namespace = ?",
    "nodes": f"SELECT count(*), coalesce(sum({NODE_BYTES_SQL}), 0), count(v.node_id) FROM nodes n "
             "JOIN problems p USING (problem_id) LEFT JOIN node_vectors v USING (node_id) WHERE p.namespace = ?",
    "edges": f"SELECT count(*), coalesce(sum({EDGE_BYTES_SQL}), 0), 0 FROM edges e "
             "JOIN problems p USING (problem_id) WHERE p.namespace = ?",
}


def namespace_usage(con: duckdb.DuckDBPyConnection, namespace: str) -> BankUsage:
    """Count the rows of ``namespace`` and estimate their stored bytes."""
    parts = {name: con.execute(query, [namespace]).fetchall()[0] for name, query in _USAGE_QUERIES.items()}
    problem_vectors = parts["problems"][2]
    node_vectors = parts["nodes"][2]
    total = (sum(part[1] for part in parts.values()) + problem_vectors * VECTOR_BYTES
             + node_vectors * (VECTOR_BYTES + INDEX_VECTOR_BYTES))
    return BankUsage(namespace, parts["problems"][0], parts["rollouts"][0], parts["nodes"][0], parts["edges"][0],
                     node_vectors, int(total))


def list_namespaces(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return every namespace that has problems, runs, limits or grants, sorted."""
    rows = con.execute(
        "SELECT namespace FROM problems UNION SELECT namespace FROM runs UNION SELECT namespace FROM bank_limits "
        "UNION SELECT reader FROM namespace_grants UNION SELECT owner FROM namespace_grants ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]
