"""Back up the evidence the writer does not count: majority-vote agreement and step scores.

The writer counts gold outcomes on every node of a rollout's path as it
writes the rollout (``nodes.graded`` and ``nodes.successes``). Two more
kinds of evidence reach the nodes here:

- Vote agreement, for problems without a gold answer: each rollout's
  answer is compared with the majority vote of all the problem's rollouts
  (``rollouts.agrees_with_vote``). The rollouts that have no gold grade
  then count as pseudo-outcomes on every node of their path
  (``nodes.vote_graded`` and ``nodes.vote_successes``). ``is_correct`` keeps
  meaning gold-graded, and ``nodes.value`` stays the gold-only estimate.
- Step scores from a scorer: one row per score in ``step_scores``, and the
  latest score of a node in ``nodes.score``.

The planner combines the three into one posterior (see :mod:`tater_graph.values`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from tater_graph.answers import answers_match, majority_vote
from tater_graph.errors import ConfigError, NotFoundError
from tater_graph.graph import StepGraph

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoteBackup:
    """The outcome of one vote backup.

    Attributes:
        problem_id: the problem.
        vote_answer: the majority answer, None when no rollout has an answer.
        rollouts: rollouts compared with the vote.
        agreeing: of those, rollouts whose answer matches the vote.
        pseudo_graded: rollouts counted as pseudo-outcomes (those without a gold grade).
    """

    problem_id: int
    vote_answer: str | None
    rollouts: int
    agreeing: int
    pseudo_graded: int


def backup_vote(graph: StepGraph, problem_id: int, vote_answer: str | None = None) -> VoteBackup:
    """Store each rollout's agreement with the majority vote and recount the vote outcomes on the nodes.

    The counts are recomputed from every rollout of the problem, so running
    it again after more rollouts arrive, or twice, gives the same counts as
    running it once at the end.

    Args:
        graph: the open, writable step graph.
        problem_id: the problem whose rollouts vote.
        vote_answer: the answer to compare with; default: the majority vote
            of the problem's rollouts (unweighted, equivalent answers together).

    Raises:
        NotFoundError: the problem is not stored.
    """
    con = graph.db.con
    if not con.execute("SELECT count(*) FROM problems WHERE problem_id = ?", [problem_id]).fetchall()[0][0]:
        raise NotFoundError(f"problem {problem_id} not found: vote backup needs a stored problem id")
    rows = con.execute(
        "SELECT rollout_id, answer, is_correct FROM rollouts WHERE problem_id = ? AND n_steps > 0 ORDER BY rollout_id",
        [problem_id],
    ).fetchall()
    if vote_answer is None:
        vote_answer = majority_vote(answer for _, answer, _ in rows)
    agreement = [answers_match(answer, vote_answer) for _, answer, _ in rows]

    table = pa.table({
        "rollout_id": pa.array([r[0] for r in rows], pa.int64()),
        "agrees": pa.array(agreement, pa.bool_()),
    })
    with graph.db.transaction():
        con.execute("UPDATE problems SET vote_answer = ? WHERE problem_id = ?", [vote_answer, problem_id])
        con.register("_tg_vote_agreement", table)
        try:
            con.execute("UPDATE rollouts SET agrees_with_vote = a.agrees FROM _tg_vote_agreement a "
                        "WHERE rollouts.rollout_id = a.rollout_id")
        finally:
            con.unregister("_tg_vote_agreement")
        _recount_vote_outcomes(con, problem_id)

    pseudo = sum(1 for (_, _, correct), agrees in zip(rows, agreement) if correct is None and agrees is not None)
    result = VoteBackup(problem_id, vote_answer, len(rows), sum(1 for a in agreement if a), pseudo)
    logger.debug("vote backup of problem %d: %s", problem_id, result)
    return result


def backup_votes(graph: StepGraph, problem_ids: Iterable[int] | None = None) -> list[VoteBackup]:
    """Run :func:`backup_vote` on each problem; default: every problem of the namespace without a gold answer."""
    if problem_ids is None:
        problem_ids = [row[0] for row in graph.db.con.execute(
            "SELECT problem_id FROM problems WHERE gold_answer IS NULL AND namespace = ? ORDER BY problem_id",
            [graph.namespace],
        ).fetchall()]
    results = [backup_vote(graph, problem_id) for problem_id in problem_ids]
    logger.info("backed up majority votes of %d problems", len(results))
    return results


def _recount_vote_outcomes(con, problem_id: int) -> None:
    """Set the vote counts of the problem's nodes from the rollouts' stored agreement."""
    con.execute("UPDATE nodes SET vote_graded = 0, vote_successes = 0 WHERE problem_id = ?", [problem_id])
    # A path is the root plus the rollout_steps nodes; a state strictly grows along a path,
    # so no rollout passes a node twice.
    con.execute(
        "WITH outcome AS ("
        "  SELECT rollout_id, agrees_with_vote AS agrees FROM rollouts"
        "  WHERE problem_id = $1 AND is_correct IS NULL AND agrees_with_vote IS NOT NULL AND n_steps > 0),"
        " visits AS ("
        "  SELECT s.node_id, o.agrees FROM rollout_steps s JOIN outcome o USING (rollout_id)"
        "  UNION ALL"
        "  SELECT root.node_id, o.agrees FROM outcome o, nodes root"
        "  WHERE root.problem_id = $1 AND root.depth = 0),"
        " counts AS ("
        "  SELECT node_id, count(*) AS graded, count(*) FILTER (WHERE agrees) AS successes FROM visits GROUP BY node_id)"
        " UPDATE nodes SET vote_graded = counts.graded, vote_successes = counts.successes"
        " FROM counts WHERE nodes.node_id = counts.node_id",
        [problem_id],
    )


@dataclass(frozen=True)
class StepScore:
    """One score of one node by one scorer, in [0, 1]."""

    node_id: int
    scorer: str
    score: float


def record_step_scores(graph: StepGraph, scores: Sequence[StepScore], run_id: int | None = None) -> int:
    """Store step scores and set each node's ``score`` to its latest one; all or nothing.

    Returns the number of scores stored.

    Raises:
        ConfigError: a score is outside [0, 1] or not a number, or a scorer name is empty.
        NotFoundError: a node id is not stored.
    """
    for number, item in enumerate(scores, start=1):
        if not isinstance(item.score, (int, float)) or not 0.0 <= item.score <= 1.0:
            raise ConfigError(f"score {number} of node {item.node_id} is {item.score!r}: scores must be in [0, 1]")
        if not item.scorer:
            raise ConfigError(f"score {number} of node {item.node_id} has no scorer name: name the scorer")
    if not scores:
        return 0

    con = graph.db.con
    node_ids = sorted({item.node_id for item in scores})
    found = {row[0] for row in con.execute(
        "SELECT node_id FROM nodes WHERE node_id IN (SELECT unnest(?))", [node_ids]
    ).fetchall()}
    missing = [n for n in node_ids if n not in found]
    if missing:
        raise NotFoundError(f"node {missing[0]} not found ({len(missing)} missing): score only stored nodes")

    latest = {item.node_id: float(item.score) for item in scores}  # a later score of a node replaces an earlier one
    table = pa.table({
        "node_id": pa.array([item.node_id for item in scores], pa.int64()),
        "scorer": [item.scorer for item in scores],
        "score": pa.array([float(item.score) for item in scores], pa.float64()),
        "run_id": pa.array([run_id] * len(scores), pa.int64()),
    })
    latest_table = pa.table({
        "node_id": pa.array(list(latest), pa.int64()),
        "score": pa.array(list(latest.values()), pa.float64()),
    })
    with graph.db.transaction():
        con.register("_tg_step_scores", table)
        con.register("_tg_latest_scores", latest_table)
        try:
            con.execute("INSERT INTO step_scores (node_id, scorer, score, run_id) "
                        "SELECT node_id, scorer, score, run_id FROM _tg_step_scores")
            con.execute("UPDATE nodes SET score = l.score FROM _tg_latest_scores l WHERE nodes.node_id = l.node_id")
        finally:
            con.unregister("_tg_step_scores")
            con.unregister("_tg_latest_scores")
    return len(scores)
