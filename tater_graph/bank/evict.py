"""Remove whole rollouts from a bank and keep the graph consistent.

After :func:`evict_rollouts` commits:

- no rollout step or rollout points at a missing node;
- a node remains only while some remaining rollout passes through it (a
  problem's root remains while the problem has any rollout);
- an edge remains only while some remaining rollout traverses it;
- ``visits``, ``graded``, ``successes``, ``terminal_visits``, ``value`` and
  ``answer`` of every node, and ``traversals`` of every edge, equal a recount
  from the remaining rollouts, as :class:`tater_graph.store.writer.GraphWriter`
  computes them;
- the vectors, step scores and experiences of removed nodes are deleted, and
  so are experiences distilled from a removed rollout;
- a problem left with no rollout is deleted with its vector, unless a run's
  ledger (``run_problems``) names it.

The HNSW index still contains the removed labels until it is rebuilt; the
callers in :mod:`tater_graph.bank.manage` rebuild it before they return.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from tater_graph.bank.usage import (
    EDGE_BYTES_SQL, INDEX_VECTOR_BYTES, NODE_BYTES_SQL, PROBLEM_BYTES_SQL, ROLLOUT_BYTES_SQL, STEP_BYTES_SQL,
    VECTOR_BYTES,
)
from tater_graph.store.database import Database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvictionResult:
    """Counts of the rows one eviction removed."""

    rollouts: int
    nodes: int
    edges: int
    problems: int


@dataclass(frozen=True)
class VictimPlan:
    """The rollouts to evict and the nodes and estimated bytes their removal frees."""

    rollout_ids: list[int]
    nodes: int
    bytes: int


def choose_victims(con: duckdb.DuckDBPyConnection, namespace: str, order: Sequence[int],
                   free_nodes: int, free_bytes: int) -> VictimPlan:
    """Return the shortest prefix of ``order`` whose removal frees the requested nodes and bytes.

    A node is freed only when every rollout through it is chosen, so the
    count is exact for nodes. Bytes are the estimate of
    :mod:`tater_graph.bank.usage`, counting a problem as freed with its last rollout.
    """
    if free_nodes <= 0 and free_bytes <= 0:
        return VictimPlan([], 0, 0)
    # NOTE: this loads every rollout path of the namespace into Python dicts.
    # That costs an estimated 100 bytes per stored step, unmeasured beyond a few thousand steps.
    paths, rollout_problem, rollout_bytes = _load_paths(con, namespace)
    node_bytes = dict(con.execute(
        f"SELECT n.node_id, {NODE_BYTES_SQL} + {EDGE_BYTES_SQL.replace('e.', 'n.')} "
        f"+ CASE WHEN v.node_id IS NULL THEN 0 ELSE {VECTOR_BYTES + INDEX_VECTOR_BYTES} END "
        "FROM nodes n JOIN problems p USING (problem_id) LEFT JOIN node_vectors v USING (node_id) "
        "WHERE p.namespace = ? AND n.depth > 0",
        [namespace],
    ).fetchall())
    problem_bytes = dict(con.execute(
        f"SELECT p.problem_id, {PROBLEM_BYTES_SQL} + {VECTOR_BYTES} FROM problems p WHERE p.namespace = ?",
        [namespace],
    ).fetchall())

    node_refs: dict[int, int] = defaultdict(int)
    problem_refs: dict[int, int] = defaultdict(int)
    for rollout_id, path in paths.items():
        problem_refs[rollout_problem[rollout_id]] += 1
        for node_id in path:
            node_refs[node_id] += 1

    chosen = []
    freed_nodes = freed_bytes = 0
    for rollout_id in order:
        if freed_nodes >= free_nodes and freed_bytes >= free_bytes:
            break
        chosen.append(rollout_id)
        freed_bytes += rollout_bytes[rollout_id]
        for node_id in paths[rollout_id]:
            node_refs[node_id] -= 1
            if node_refs[node_id] == 0:
                freed_nodes += 1
                freed_bytes += node_bytes.get(node_id, 0)
        problem_id = rollout_problem[rollout_id]
        problem_refs[problem_id] -= 1
        if problem_refs[problem_id] == 0:
            freed_nodes += 1  # the root
            freed_bytes += problem_bytes.get(problem_id, 0)
    return VictimPlan(chosen, freed_nodes, freed_bytes)


def _load_paths(con, namespace: str) -> tuple[dict[int, list[int]], dict[int, int], dict[int, int]]:
    rollouts = con.execute(
        f"SELECT r.rollout_id, r.problem_id, {ROLLOUT_BYTES_SQL} FROM rollouts r JOIN problems p USING (problem_id) "
        "WHERE p.namespace = ?",
        [namespace],
    ).fetchall()
    paths: dict[int, list[int]] = {rollout_id: [] for rollout_id, _, _ in rollouts}
    rollout_problem = {rollout_id: problem_id for rollout_id, problem_id, _ in rollouts}
    rollout_bytes = {rollout_id: size for rollout_id, _, size in rollouts}
    steps = con.execute(
        f"SELECT s.rollout_id, s.node_id, {STEP_BYTES_SQL} FROM rollout_steps s JOIN rollouts r USING (rollout_id) "
        "JOIN problems p USING (problem_id) WHERE p.namespace = ?",
        [namespace],
    ).fetchall()
    for rollout_id, node_id, size in steps:
        paths[rollout_id].append(node_id)
        rollout_bytes[rollout_id] += size
    return paths, rollout_problem, rollout_bytes


def evict_rollouts(db: Database, rollout_ids: Sequence[int]) -> EvictionResult:
    """Delete ``rollout_ids`` and everything only they reached, in one transaction.

    Unknown ids are ignored. On any error nothing is deleted.
    """
    if not rollout_ids:
        return EvictionResult(0, 0, 0, 0)
    victims = pa.table({"rollout_id": pa.array(sorted(set(rollout_ids)), pa.int64())})
    with db.transaction() as con:
        con.register("_tg_victims", victims)
        try:
            result = _evict(con)
        finally:
            con.unregister("_tg_victims")
    logger.info("evicted %d rollouts, %d nodes, %d edges, %d problems",
                result.rollouts, result.nodes, result.edges, result.problems)
    return result


def _evict(con: duckdb.DuckDBPyConnection) -> EvictionResult:
    # The states the victims touched, and their problems' roots: only these can change.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tg_touched AS "
        "SELECT DISTINCT s.node_id FROM rollout_steps s JOIN _tg_victims USING (rollout_id) "
        "UNION SELECT n.node_id FROM nodes n JOIN rollouts r USING (problem_id) "
        "JOIN _tg_victims v ON v.rollout_id = r.rollout_id WHERE n.depth = 0"
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _tg_problems AS "
                "SELECT DISTINCT r.problem_id FROM rollouts r JOIN _tg_victims USING (rollout_id)")
    removed_rollouts = con.execute(
        "SELECT count(*) FROM rollouts JOIN _tg_victims USING (rollout_id)").fetchall()[0][0]

    con.execute("DELETE FROM experiences WHERE len(list_intersect(source_rollouts, "
                "(SELECT list(rollout_id) FROM _tg_victims))) > 0")
    con.execute("DELETE FROM rollout_steps WHERE rollout_id IN (SELECT rollout_id FROM _tg_victims)")
    con.execute("DELETE FROM rollouts WHERE rollout_id IN (SELECT rollout_id FROM _tg_victims)")

    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tg_dead AS "
        "SELECT n.node_id FROM nodes n JOIN _tg_touched USING (node_id) WHERE "
        "(n.depth > 0 AND NOT EXISTS (SELECT 1 FROM rollout_steps s WHERE s.node_id = n.node_id)) OR "
        "(n.depth = 0 AND NOT EXISTS (SELECT 1 FROM rollouts r WHERE r.problem_id = n.problem_id))"
    )
    removed_nodes = con.execute("SELECT count(*) FROM _tg_dead").fetchall()[0][0]
    removed_edges = con.execute(
        "SELECT count(*) FROM edges WHERE parent_id IN (SELECT node_id FROM _tg_touched) "
        "OR child_id IN (SELECT node_id FROM _tg_touched)"
    ).fetchall()[0][0]
    for table in ("experiences", "step_scores", "node_vectors"):
        con.execute(f"DELETE FROM {table} WHERE node_id IN (SELECT node_id FROM _tg_dead)")
    con.execute("DELETE FROM nodes WHERE node_id IN (SELECT node_id FROM _tg_dead)")

    _recount_nodes(con)
    removed_edges -= _recount_edges(con)
    removed_problems = _drop_empty_problems(con)
    for table in ("_tg_touched", "_tg_problems", "_tg_dead"):
        con.execute(f"DROP TABLE {table}")
    return EvictionResult(removed_rollouts, removed_nodes, removed_edges, removed_problems)


def _recount_nodes(con: duckdb.DuckDBPyConnection) -> None:
    """Recount the touched states that remain from the remaining rollouts (the writer's rules).

    Where the schema has majority-vote pseudo-outcomes (``rollouts.agrees_with_vote``,
    ``nodes.vote_graded``, ``nodes.vote_successes``), those are recounted too:
    ungraded rollouts whose stored vote agreement is known.
    """
    votes = _has_vote_columns(con)
    agrees = "r.agrees_with_vote" if votes else "CAST(NULL AS BOOLEAN)"
    vote_counts = (", count(p.rollout_id) FILTER (WHERE p.is_correct IS NULL AND p.agrees IS NOT NULL) AS vote_graded"
                   ", count(p.rollout_id) FILTER (WHERE p.is_correct IS NULL AND p.agrees) AS vote_successes")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tg_counts AS "
        "WITH paths AS ("
        f"  SELECT s.node_id, r.rollout_id, r.is_correct, r.terminal_node_id, r.answer, {agrees} AS agrees "
        "  FROM rollout_steps s JOIN rollouts r USING (rollout_id) WHERE s.node_id IN (SELECT node_id FROM _tg_touched) "
        "  UNION ALL "
        f"  SELECT n.node_id, r.rollout_id, r.is_correct, r.terminal_node_id, r.answer, {agrees} AS agrees FROM nodes n "
        "  JOIN rollouts r USING (problem_id) WHERE n.depth = 0 AND r.n_steps > 0 "
        "  AND n.node_id IN (SELECT node_id FROM _tg_touched)"
        ") "
        "SELECT t.node_id, count(p.rollout_id) AS visits, count(p.is_correct) AS graded, "
        "count(p.rollout_id) FILTER (WHERE p.is_correct) AS successes, "
        "count(p.rollout_id) FILTER (WHERE p.terminal_node_id = t.node_id) AS terminal_visits, "
        "arg_min(p.answer, p.rollout_id) FILTER (WHERE p.terminal_node_id = t.node_id AND p.answer IS NOT NULL) "
        f"AS answer{vote_counts} "
        "FROM _tg_touched t LEFT JOIN paths p USING (node_id) GROUP BY t.node_id"
    )
    vote_update = ", vote_graded = c.vote_graded, vote_successes = c.vote_successes" if votes else ""
    con.execute(
        "UPDATE nodes SET visits = c.visits, graded = c.graded, successes = c.successes, "
        "terminal_visits = c.terminal_visits, value = (c.successes + 1.0) / (c.graded + 2.0), "
        f"answer = c.answer{vote_update} FROM _tg_counts c WHERE nodes.node_id = c.node_id"
    )
    con.execute("DROP TABLE _tg_counts")


def _has_vote_columns(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND ((table_name = 'nodes' AND column_name IN ('vote_graded', 'vote_successes')) "
        "OR (table_name = 'rollouts' AND column_name = 'agrees_with_vote'))"
    ).fetchall()[0][0]
    return found == 3


def _recount_edges(con: duckdb.DuckDBPyConnection) -> int:
    """Recount the edges at touched states, delete the untraversed ones; return how many remain."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tg_edge_counts AS "
        "WITH hops AS ("
        "  SELECT coalesce(prev.node_id, root.node_id) AS parent_id, s.node_id AS child_id FROM rollout_steps s "
        "  JOIN rollouts r USING (rollout_id) "
        "  LEFT JOIN rollout_steps prev ON prev.rollout_id = s.rollout_id AND prev.position = s.position - 1 "
        "  LEFT JOIN nodes root ON root.problem_id = r.problem_id AND root.depth = 0 AND s.position = 1"
        "  WHERE r.problem_id IN (SELECT problem_id FROM _tg_problems)"
        ") "
        "SELECT e.parent_id, e.child_id, count(h.child_id) AS traversals FROM edges e "
        "LEFT JOIN hops h ON h.parent_id = e.parent_id AND h.child_id = e.child_id "
        "WHERE e.parent_id IN (SELECT node_id FROM _tg_touched) OR e.child_id IN (SELECT node_id FROM _tg_touched) "
        "GROUP BY e.parent_id, e.child_id"
    )
    con.execute("DELETE FROM edges USING _tg_edge_counts c WHERE c.traversals = 0 "
                "AND edges.parent_id = c.parent_id AND edges.child_id = c.child_id")
    con.execute("UPDATE edges SET traversals = c.traversals FROM _tg_edge_counts c "
                "WHERE edges.parent_id = c.parent_id AND edges.child_id = c.child_id")
    kept = con.execute("SELECT count(*) FROM _tg_edge_counts WHERE traversals > 0").fetchall()[0][0]
    con.execute("DROP TABLE _tg_edge_counts")
    return kept


def _drop_empty_problems(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tg_empty AS SELECT problem_id FROM _tg_problems "
        "WHERE NOT EXISTS (SELECT 1 FROM rollouts r WHERE r.problem_id = _tg_problems.problem_id)"
    )
    con.execute("DELETE FROM problem_vectors WHERE problem_id IN (SELECT problem_id FROM _tg_empty)")
    removed = con.execute(
        "SELECT count(*) FROM _tg_empty WHERE problem_id NOT IN (SELECT problem_id FROM run_problems)"
    ).fetchall()[0][0]
    con.execute("DELETE FROM problems WHERE problem_id IN (SELECT problem_id FROM _tg_empty) "
                "AND problem_id NOT IN (SELECT problem_id FROM run_problems)")
    con.execute("DROP TABLE _tg_empty")
    return removed
