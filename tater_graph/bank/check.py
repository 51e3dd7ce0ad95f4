"""Consistency checks of the step graph, run after eviction and by the tests.

Each check is one SQL query that returns the offending rows; the graph is
consistent when every query returns none. The counts are recomputed from
the rollouts by the rules of :class:`tater_graph.store.writer.GraphWriter`.
"""

from __future__ import annotations

import duckdb

CHECKS: dict[str, str] = {
    "rollout step at a missing node":
        "SELECT s.rollout_id, s.node_id FROM rollout_steps s ANTI JOIN nodes n USING (node_id)",
    "rollout step of a missing rollout":
        "SELECT s.rollout_id FROM rollout_steps s ANTI JOIN rollouts r USING (rollout_id)",
    "rollout ending at a missing node":
        "SELECT r.rollout_id FROM rollouts r ANTI JOIN nodes n ON n.node_id = r.terminal_node_id",
    "rollout of a missing problem":
        "SELECT r.rollout_id FROM rollouts r ANTI JOIN problems p USING (problem_id)",
    "rollout with a gap in its steps":
        "SELECT rollout_id FROM rollouts r WHERE n_steps <> "
        "(SELECT count(*) FROM rollout_steps s WHERE s.rollout_id = r.rollout_id)",
    "node on no rollout (orphan)":
        "SELECT n.node_id FROM nodes n WHERE (n.depth > 0 AND NOT EXISTS "
        "(SELECT 1 FROM rollout_steps s WHERE s.node_id = n.node_id)) OR (n.depth = 0 AND NOT EXISTS "
        "(SELECT 1 FROM rollouts r WHERE r.problem_id = n.problem_id))",
    "edge at a missing node":
        "SELECT e.parent_id, e.child_id FROM edges e WHERE e.parent_id NOT IN (SELECT node_id FROM nodes) "
        "OR e.child_id NOT IN (SELECT node_id FROM nodes)",
    "edge traversals disagree with the rollouts":
        "WITH hops AS (SELECT coalesce(prev.node_id, root.node_id) AS parent_id, s.node_id AS child_id "
        "FROM rollout_steps s JOIN rollouts r USING (rollout_id) "
        "LEFT JOIN rollout_steps prev ON prev.rollout_id = s.rollout_id AND prev.position = s.position - 1 "
        "LEFT JOIN nodes root ON root.problem_id = r.problem_id AND root.depth = 0 AND s.position = 1), "
        "counted AS (SELECT parent_id, child_id, count(*) AS traversals FROM hops GROUP BY ALL) "
        "SELECT * FROM edges e FULL JOIN counted c USING (parent_id, child_id) "
        "WHERE e.traversals IS DISTINCT FROM c.traversals",
    "node counts disagree with the rollouts":
        "WITH paths AS (SELECT s.node_id, r.rollout_id, r.is_correct, r.terminal_node_id FROM rollout_steps s "
        "JOIN rollouts r USING (rollout_id) UNION ALL SELECT n.node_id, r.rollout_id, r.is_correct, "
        "r.terminal_node_id FROM nodes n JOIN rollouts r USING (problem_id) WHERE n.depth = 0 AND r.n_steps > 0), "
        "counted AS (SELECT n.node_id, count(p.rollout_id) AS visits, count(p.is_correct) AS graded, "
        "count(p.rollout_id) FILTER (WHERE p.is_correct) AS successes, "
        "count(p.rollout_id) FILTER (WHERE p.terminal_node_id = n.node_id) AS terminal_visits "
        "FROM nodes n LEFT JOIN paths p USING (node_id) GROUP BY n.node_id) "
        "SELECT n.node_id FROM nodes n JOIN counted c USING (node_id) WHERE n.visits <> c.visits "
        "OR n.graded <> c.graded OR n.successes <> c.successes OR n.terminal_visits <> c.terminal_visits "
        "OR abs(n.value - (c.successes + 1.0) / (c.graded + 2.0)) > 1e-9",
    "vector of a missing node":
        "SELECT v.node_id FROM node_vectors v ANTI JOIN nodes n USING (node_id)",
    "vector of a missing problem":
        "SELECT v.problem_id FROM problem_vectors v ANTI JOIN problems p USING (problem_id)",
    "experience of a missing node":
        "SELECT x.experience_id FROM experiences x ANTI JOIN nodes n USING (node_id)",
}


def consistency_violations(con: duckdb.DuckDBPyConnection, limit: int = 5) -> dict[str, list[tuple]]:
    """Run every check; return the failed ones with up to ``limit`` offending rows each."""
    failures = {}
    for name, query in CHECKS.items():
        rows = con.execute(f"SELECT * FROM ({query}) LIMIT {int(limit)}").fetchall()
        if rows:
            failures[name] = rows
    return failures
