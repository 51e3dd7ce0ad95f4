"""Typed experience distilled from the graph: verified intermediate conclusions and failure patterns.

- Positive: a step that lies on at least one correct path (gold-graded
  correct, or agreeing with the majority vote where no gold answer exists)
  and whose value is at least ``min_value`` on at least ``min_outcomes``
  outcomes.
- Negative: a dead end, a step on at least one failed path whose value is
  at most ``max_value`` on at least ``min_outcomes`` outcomes.

Steps that only ever end a rollout (``#### 18`` lines) are left out by
default: they restate an answer rather than a conclusion to reuse.

Values are the planner's posterior (gold outcomes, vote outcomes and step
score, see :mod:`tater_graph.values`), computed in SQL over every node.
Each experience row links to its node and to the rollouts behind it: the
correct ones for a positive, the failed ones for a negative.

Distilling is idempotent: rows are keyed by (node, kind), so running it
again updates them in place (same ids), and experiences of the distilled
problems that no longer qualify are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from tater_graph.errors import ConfigError
from tater_graph.graph import StepGraph
from tater_graph.planner import Planner, PlannerConfig

logger = logging.getLogger(__name__)

KINDS = ("positive", "negative")


@dataclass(frozen=True)
class ExperienceConfig:
    """Thresholds of distillation, validated on construction.

    Attributes:
        min_value: minimum value of a positive experience.
        max_value: maximum value of a negative experience.
        min_outcomes: minimum gold plus vote outcomes behind either kind.
        include_final_steps: keep steps that only ever end a rollout.
        planner: the value model (prior and weights) the thresholds apply to.
    """

    min_value: float = 0.7
    max_value: float = 0.25
    min_outcomes: int = 3
    include_final_steps: bool = False
    planner: PlannerConfig = PlannerConfig()

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_value < self.min_value <= 1.0:
            raise ConfigError(f"invalid experience thresholds max_value={self.max_value}, min_value="
                              f"{self.min_value}: use 0 <= max_value < min_value <= 1")
        if self.min_outcomes < 1:
            raise ConfigError(f"invalid experience min_outcomes {self.min_outcomes}: use 1 or more")


@dataclass(frozen=True)
class Experience:
    """One stored experience row."""

    experience_id: int
    problem_id: int
    node_id: int
    kind: str
    content: str
    visits: int
    value: float
    source_rollouts: tuple[int, ...]
    created_at: datetime | None = None


@dataclass(frozen=True)
class DistillResult:
    """Counts from one distillation: rows now stored per kind, and stale rows deleted."""

    positive: int
    negative: int
    deleted: int


# The planner's posterior mean in SQL, with $prior_s, $prior_f, $vote_w, $score_w bound as parameters.
_VALUE_SQL = (
    "(($prior_s + n.successes + $vote_w * n.vote_successes + $score_w * coalesce(n.score, 0))"
    " / ($prior_s + $prior_f + n.graded + $vote_w * n.vote_graded"
    " + $score_w * CASE WHEN n.score IS NULL THEN 0 ELSE 1 END))"
)

_CANDIDATES_SQL = f"""
WITH valued AS (
    SELECT n.node_id, n.problem_id, n.step_text, n.visits, n.terminal_visits,
           n.graded + CASE WHEN $vote_w > 0 THEN n.vote_graded ELSE 0 END AS outcomes,
           {_VALUE_SQL} AS value
    FROM nodes n
    WHERE n.depth > 0 AND ($all_problems OR list_contains($problem_ids::BIGINT[], n.problem_id))
),
outcome AS (
    SELECT s.node_id, r.rollout_id,
           coalesce(r.is_correct, CASE WHEN $vote_w > 0 THEN r.agrees_with_vote END) AS correct
    FROM rollout_steps s JOIN rollouts r USING (rollout_id)
    WHERE s.node_id IN (SELECT node_id FROM valued)
)
SELECT v.node_id, v.problem_id, v.step_text, v.visits, v.value,
       CASE WHEN v.value >= $min_value THEN 'positive' ELSE 'negative' END AS kind,
       list(o.rollout_id ORDER BY o.rollout_id) FILTER (
           WHERE o.correct = (v.value >= $min_value)) AS sources
FROM valued v JOIN outcome o USING (node_id)
WHERE v.outcomes >= $min_outcomes
  AND (v.value <= $max_value OR v.value >= $min_value)
  AND ($include_final OR v.terminal_visits < v.visits)
GROUP BY ALL
HAVING count(*) FILTER (WHERE o.correct = (v.value >= $min_value)) > 0
ORDER BY v.node_id
"""


def distill(graph: StepGraph, problem_ids: Iterable[int] | None = None,
            config: ExperienceConfig = ExperienceConfig()) -> DistillResult:
    """Distill positive and negative experience from the graph and store it, all or nothing.

    Args:
        graph: the open, writable step graph.
        problem_ids: the problems to distill; default: every problem.
        config: thresholds and value model.
    """
    ids = None if problem_ids is None else sorted(set(problem_ids))
    params = _params(config)
    params.update({"all_problems": ids is None, "problem_ids": ids or []})
    con = graph.db.con
    rows = con.execute(_CANDIDATES_SQL, params).fetchall()

    next_id = graph.db.next_id("experiences", "experience_id")
    table = pa.table({
        "experience_id": pa.array(range(next_id, next_id + len(rows)), pa.int64()),
        "problem_id": pa.array([row[1] for row in rows], pa.int64()),
        "node_id": pa.array([row[0] for row in rows], pa.int64()),
        "kind": [row[5] for row in rows],
        "content": [row[2] for row in rows],
        "visits": pa.array([row[3] for row in rows], pa.int64()),
        "value": pa.array([row[4] for row in rows], pa.float64()),
        "source_rollouts": pa.array([row[6] for row in rows], pa.list_(pa.int64())),
    })
    with graph.db.transaction():
        deleted = _delete_stale(con, ids, [(row[0], row[5]) for row in rows])
        con.register("_tg_experiences", table)
        try:
            # An experience already stored for the same (node, kind) keeps its id and creation time.
            con.execute(
                "INSERT INTO experiences (experience_id, problem_id, node_id, kind, content, visits, value, "
                "source_rollouts) SELECT * FROM _tg_experiences "
                "ON CONFLICT (node_id, kind) DO UPDATE SET content = excluded.content, visits = excluded.visits, "
                "value = excluded.value, source_rollouts = excluded.source_rollouts"
            )
        finally:
            con.unregister("_tg_experiences")

    positive = sum(1 for row in rows if row[5] == "positive")
    result = DistillResult(positive, len(rows) - positive, deleted)
    logger.info("distilled %d positive and %d negative experiences, deleted %d stale ones",
                result.positive, result.negative, result.deleted)
    return result


def _params(config: ExperienceConfig) -> dict[str, object]:
    planner = config.planner
    return {
        "prior_s": planner.prior_successes, "prior_f": planner.prior_failures,
        "vote_w": planner.vote_weight, "score_w": planner.score_weight,
        "min_value": config.min_value, "max_value": config.max_value, "min_outcomes": config.min_outcomes,
        "include_final": config.include_final_steps,
    }


def _delete_stale(con, problem_ids: list[int] | None, keep: list[tuple[int, str]]) -> int:
    """Delete the experiences of the distilled problems that are not in ``keep``; return how many."""
    wanted = set(keep)
    rows = con.execute(
        "SELECT experience_id, node_id, kind FROM experiences WHERE ? OR list_contains(?::BIGINT[], problem_id)",
        [problem_ids is None, problem_ids or []],
    ).fetchall()
    stale = [experience_id for experience_id, node_id, kind in rows if (node_id, kind) not in wanted]
    if stale:
        con.execute("DELETE FROM experiences WHERE experience_id IN (SELECT unnest(?))", [stale])
    return len(stale)


def list_experiences(graph: StepGraph, kind: str | None = None, problem_ids: Iterable[int] | None = None,
                     limit: int = 100) -> list[Experience]:
    """Return stored experiences, best supported first (most visits, then lowest id).

    Raises:
        ConfigError: ``kind`` is not ``positive`` or ``negative``, or ``limit`` is below 1.
    """
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"invalid experience kind {kind!r}: use one of {', '.join(KINDS)}")
    if limit < 1:
        raise ConfigError(f"invalid limit {limit}: use 1 or more")
    ids = None if problem_ids is None else sorted(set(problem_ids))
    rows = graph.db.cursor().execute(
        "SELECT experience_id, problem_id, node_id, kind, content, visits, value, source_rollouts, created_at "
        "FROM experiences WHERE (?::VARCHAR IS NULL OR kind = ?) AND (? OR list_contains(?::BIGINT[], problem_id)) "
        "ORDER BY visits DESC, experience_id LIMIT ?",
        [kind, kind, ids is None, ids or [], limit],
    ).fetchall()
    return [Experience(*row[:7], tuple(row[7]), row[8]) for row in rows]


def similar_experiences(planner: Planner, question: str, kind: str = "positive", problems: int = 3,
                        per_problem: int = 5, min_similarity: float = 0.0,
                        exclude_problem_ids: Iterable[int] = ()) -> list[tuple[float, Experience]]:
    """Return experiences of the stored problems most similar to ``question``, with each problem's similarity.

    Use it to put verified conclusions (or known failure patterns) of
    similar solved problems into a new problem's prompt.
    """
    ranked = planner.similar_problems(question, k=problems, exclude_problem_ids=tuple(exclude_problem_ids),
                                      min_similarity=min_similarity)
    found = []
    for similar in ranked:
        for experience in list_experiences(planner.graph, kind, [similar.problem_id], per_problem):
            found.append((similar.similarity, experience))
    return found
