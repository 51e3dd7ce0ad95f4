"""Verify the invariants a step graph keeps through crashes, without changing it.

Each invariant is one function over a read-only connection; :data:`INVARIANTS`
fixes their order. A failed invariant reports how many rows break it and up
to :data:`EXAMPLES` of them, so the report stays short on a large database.

- ``schema-version``: the schema version is the latest this tater-graph supports,
  and the tables, columns, constraints and indexes equal those of a fresh database.
- ``whole-rollouts``: every rollout has exactly ``n_steps`` steps at positions
  1..n_steps, each on a node of its problem at the depth of its position, and
  ends on its ``terminal_node_id``; only error rollouts have no steps.
- ``node-counts``: ``visits``, ``graded``, ``successes``, ``terminal_visits``
  and ``value`` of every node equal the values recomputed from the rollouts
  through it.
- ``edge-traversals``: every edge's ``traversals`` equals the number of
  rollouts that take it, and every step a rollout takes has an edge.
- ``index-in-step``: the HNSW file passes its sidecar, checksum and header
  checks and holds exactly the vectors of ``node_vectors``.
- ``run-ledger``: finished runs total their per-problem rows, and every
  problem a finished run wrote rollouts for has a row.

The checker opens the file read-only, which DuckDB allows only while no
other process holds it for writing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tater_graph.embedders import DIM
from tater_graph.index import DATABASE_ID_KEY, VectorIndex
from tater_graph.store import migrations
from tater_graph.store.database import Database

logger = logging.getLogger(__name__)

EXAMPLES = 5


@dataclass(frozen=True)
class InvariantResult:
    """The outcome of checking one invariant: its name, whether it holds, and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class CheckReport:
    """The outcomes of every invariant on one database."""

    path: str
    results: tuple[InvariantResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def failed(self) -> list[str]:
        """The names of the invariants that do not hold, in check order."""
        return [result.name for result in self.results if not result.ok]


def check_graph(path: str | os.PathLike[str]) -> CheckReport:
    """Check every invariant of the graph at ``path`` and its index; change nothing.

    Raises:
        DatabaseError: the file is missing or cannot be opened read-only
            (:class:`DatabaseLockedError` while a writer has it open).
    """
    with Database(path, read_only=True, check_version=False) as db:
        results = []
        for name, invariant in INVARIANTS:
            try:
                detail = invariant(db)
            except duckdb.Error as error:
                detail = f"could not be checked: {error}"
            results.append(InvariantResult(name, detail is None, detail or "ok"))
            logger.debug("invariant %s: %s", name, detail or "ok")
    return CheckReport(str(path), tuple(results))


def _schema_version(db: Database) -> str | None:
    known = migrations.load_migrations()
    version = migrations.current_version(db.con)
    latest = migrations.latest_version(known)
    if version > latest:
        return f"schema version {version} is newer than this tater-graph ({latest}): upgrade tater-graph"
    if version < latest:
        return f"schema version {version} is older than this tater-graph ({latest}): run `tater-graph migrate`"

    fresh = duckdb.connect()
    try:
        migrations.migrate(fresh, known)
        expected = migrations.schema_signature(fresh)
    finally:
        fresh.close()
    actual = migrations.schema_signature(db.con)
    missing = [row for row in expected if row not in actual]
    extra = [row for row in actual if row not in expected]
    if missing or extra:
        return (f"schema differs from the migrations: {len(missing)} item(s) missing, {len(extra)} unexpected; "
                f"first missing {missing[:EXAMPLES]}, first unexpected {extra[:EXAMPLES]}")
    return None


def _violations(db: Database, query: str, what: str) -> str | None:
    """Run ``query`` (one row per violation, first column the id) and describe what it found."""
    rows = db.cursor().execute(f"SELECT * FROM ({query}) ORDER BY ALL").fetchall()
    if not rows:
        return None
    shown = "; ".join(", ".join(str(value) for value in row) for row in rows[:EXAMPLES])
    return f"{len(rows)} {what}, first {min(len(rows), EXAMPLES)}: {shown}"


# Rollouts that count toward node statistics: every one except failed samples
# stored without steps (the writer skips those, see GraphWriter).
_COUNTED_ROLLOUTS = "SELECT * FROM rollouts WHERE n_steps > 0"

# One row per (rollout, node on its path), the root included, in path order.
_PATHS = f"""
    SELECT r.rollout_id, 0 AS position, root.node_id, r.is_correct
    FROM ({_COUNTED_ROLLOUTS}) r JOIN nodes root ON root.problem_id = r.problem_id AND root.depth = 0
    UNION ALL
    SELECT r.rollout_id, s.position, s.node_id, r.is_correct
    FROM ({_COUNTED_ROLLOUTS}) r JOIN rollout_steps s USING (rollout_id)
"""


def _whole_rollouts(db: Database) -> str | None:
    problems = []
    checks = [
        ("rollouts whose steps disagree with n_steps (rollout_id, n_steps, steps stored, last position)", """
            SELECT r.rollout_id, r.n_steps, count(s.position) AS stored, coalesce(max(s.position), 0) AS last
            FROM rollouts r LEFT JOIN rollout_steps s USING (rollout_id)
            GROUP BY r.rollout_id, r.n_steps
            HAVING count(s.position) != r.n_steps OR coalesce(max(s.position), 0) != r.n_steps
                OR coalesce(min(s.position), 1) != 1"""),
        ("rollouts without steps and without an error (rollout_id)",
         "SELECT rollout_id FROM rollouts WHERE n_steps = 0 AND error IS NULL"),
        ("steps of no rollout (rollout_id, position)", """
            SELECT s.rollout_id, s.position FROM rollout_steps s ANTI JOIN rollouts r USING (rollout_id)"""),
        ("steps on a missing node or a node of another problem or depth (rollout_id, position, node_id)", """
            SELECT s.rollout_id, s.position, s.node_id FROM rollout_steps s JOIN rollouts r USING (rollout_id)
            LEFT JOIN nodes n ON n.node_id = s.node_id
            WHERE n.node_id IS NULL OR n.problem_id != r.problem_id OR n.depth != s.position"""),
        ("rollouts whose terminal_node_id is not the end of their path (rollout_id, terminal_node_id)", """
            SELECT r.rollout_id, r.terminal_node_id FROM rollouts r
            LEFT JOIN rollout_steps s ON s.rollout_id = r.rollout_id AND s.position = r.n_steps
            LEFT JOIN nodes root ON root.problem_id = r.problem_id AND root.depth = 0
            WHERE r.terminal_node_id IS DISTINCT FROM (CASE WHEN r.n_steps = 0 THEN root.node_id ELSE s.node_id END)"""),
        ("rollouts of a missing problem (rollout_id, problem_id)", """
            SELECT r.rollout_id, r.problem_id FROM rollouts r ANTI JOIN problems p USING (problem_id)"""),
    ]
    for what, query in checks:
        found = _violations(db, query, what)
        if found is not None:
            problems.append(found)
    return "; ".join(problems) or None


def _node_counts(db: Database) -> str | None:
    query = f"""
        WITH expected AS (
            SELECT node_id, count(*) AS visits, count(is_correct) AS graded,
                   count(*) FILTER (WHERE is_correct) AS successes
            FROM ({_PATHS}) GROUP BY node_id
        ), terminals AS (
            SELECT terminal_node_id AS node_id, count(*) AS terminal_visits
            FROM ({_COUNTED_ROLLOUTS}) GROUP BY terminal_node_id
        )
        SELECT n.node_id,
               format('visits {{}}/{{}}', n.visits, coalesce(e.visits, 0)) AS visits,
               format('graded {{}}/{{}}', n.graded, coalesce(e.graded, 0)) AS graded,
               format('successes {{}}/{{}}', n.successes, coalesce(e.successes, 0)) AS successes,
               format('terminal_visits {{}}/{{}}', n.terminal_visits, coalesce(t.terminal_visits, 0)) AS terminal
        FROM nodes n LEFT JOIN expected e USING (node_id) LEFT JOIN terminals t USING (node_id)
        WHERE n.visits != coalesce(e.visits, 0) OR n.graded != coalesce(e.graded, 0)
           OR n.successes != coalesce(e.successes, 0) OR n.terminal_visits != coalesce(t.terminal_visits, 0)
           OR abs(n.value - (n.successes + 1.0) / (n.graded + 2.0)) > 1e-9
    """
    return _violations(db, query, "nodes whose counts disagree with their rollouts (node_id, stored/recomputed)")


def _edge_traversals(db: Database) -> str | None:
    query = f"""
        WITH steps AS (
            SELECT lag(node_id) OVER (PARTITION BY rollout_id ORDER BY position) AS parent_id,
                   node_id AS child_id, position
            FROM ({_PATHS})
        ), expected AS (
            SELECT parent_id, child_id, count(*) AS traversals FROM steps WHERE position > 0 GROUP BY ALL
        )
        SELECT coalesce(e.parent_id, x.parent_id) AS parent_id, coalesce(e.child_id, x.child_id) AS child_id,
               format('stored {{}}, recomputed {{}}', e.traversals, coalesce(x.traversals, 0)) AS traversals
        FROM edges e FULL OUTER JOIN expected x ON e.parent_id = x.parent_id AND e.child_id = x.child_id
        WHERE e.traversals IS DISTINCT FROM coalesce(x.traversals, 0)
    """
    return _violations(db, query, "edges whose traversals disagree with their rollouts (parent_id, child_id, counts)")


def _index_in_step(db: Database) -> str | None:
    path = Path(str(db.path) + ".hnsw")
    embedder = db.get_meta("embedder")
    if embedder is None:
        stored = db.cursor().execute("SELECT count(*) FROM node_vectors").fetchall()[0][0]
        return None if stored == 0 else f"{stored} vectors stored but no embedder recorded in meta"
    index = VectorIndex(path, embedder, DIM, database_id=db.get_meta(DATABASE_ID_KEY) or "")
    problem = index.verify(db)
    if problem is None:
        return None
    return f"{path}: {problem}; open the graph for writing (or run `tater-graph check --repair-index`) to fix it"


def _run_ledger(db: Database) -> str | None:
    problems = []
    checks = [
        ("finished runs whose totals disagree with their problems (run_id, stored, summed)", """
            SELECT r.run_id,
                   format('{} problems, {} generated tokens, {} calls', r.n_problems, r.generated_tokens,
                          r.model_calls) AS stored,
                   format('{} problems, {} generated tokens, {} calls', count(p.problem_id),
                          coalesce(sum(p.generated_tokens), 0), coalesce(sum(p.model_calls), 0)) AS summed
            FROM runs r LEFT JOIN run_problems p USING (run_id)
            WHERE r.status = 'finished'
            GROUP BY r.run_id, r.n_problems, r.generated_tokens, r.model_calls
            HAVING r.n_problems != count(p.problem_id)
                OR r.generated_tokens != coalesce(sum(p.generated_tokens), 0)
                OR r.model_calls != coalesce(sum(p.model_calls), 0)"""),
        ("problems with rollouts of a finished run but no ledger row (run_id, problem_id)", """
            SELECT DISTINCT ro.run_id, ro.problem_id FROM rollouts ro JOIN runs r USING (run_id)
            WHERE r.status = 'finished'
              AND NOT EXISTS (SELECT 1 FROM run_problems p WHERE p.run_id = ro.run_id AND p.problem_id = ro.problem_id)"""),
        ("ledger rows of a missing run (run_id, problem_id)", """
            SELECT p.run_id, p.problem_id FROM run_problems p ANTI JOIN runs r USING (run_id)"""),
    ]
    for what, query in checks:
        found = _violations(db, query, what)
        if found is not None:
            problems.append(found)
    return "; ".join(problems) or None


INVARIANTS: tuple[tuple[str, Callable[[Database], str | None]], ...] = (
    ("schema-version", _schema_version),
    ("whole-rollouts", _whole_rollouts),
    ("node-counts", _node_counts),
    ("edge-traversals", _edge_traversals),
    ("index-in-step", _index_in_step),
    ("run-ledger", _run_ledger),
)
