"""The planner: best next steps from a reasoning state, known dead ends, and similar solved problems.

A state is a problem plus the steps taken so far. The planner finds it in
the graph in one of two ways:

- Exact: the problem is stored (by id, or by its question text in the
  graph's namespace) and the steps hash to a stored state key. Step order
  does not matter, so transposed steps find the same node.
- Approximate: otherwise the latest step is embedded and looked up in the
  HNSW index, among nodes of the problem itself and of its most similar
  problems (or of any problem, see :attr:`PlannerConfig.scope`). Matches
  with cosine similarity at least :attr:`PlannerConfig.min_similarity` count;
  the children of every matched state are merged by normalized step text.
  With no steps, the roots of similar problems are the matches.

Values come from :mod:`tater_graph.values`: a Beta posterior mean and
standard deviation from the node's outcomes and step score. Continuations
are ranked by value, then visits. Children whose value is at most
``dead_end_max_value`` on at least ``dead_end_min_visits`` rollouts with a
gold or vote outcome are dead ends: returned apart and never as
continuations.

The planner records when it returned a node in ``nodes.last_used_at`` and
counts it in ``nodes.uses`` (bank eviction reads both). Those writes are
batched: they reach the database every ``touch_batch`` nodes, on
:meth:`Planner.flush`, and when a ``with`` block ends.

Retrieval reads only the problems of its :class:`~tater_graph.bank.RetrievalScope`:
the graph's namespace, the namespaces that granted it read access, minus the
problems a leakage guard excludes.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np

from tater_graph.bank.namespaces import visible_namespaces
from tater_graph.bank.scope import RetrievalScope
from tater_graph.errors import ConfigError, NotFoundError
from tater_graph.graph import StepGraph
from tater_graph.steps import normalize_step
from tater_graph.store.writer import ROOT_KEY, question_hash, state_keys
from tater_graph.values import beta_mean, beta_std

logger = logging.getLogger(__name__)

SCOPES = ("same", "similar", "any")
# Scopes up to this many nodes are searched exactly in memory, larger ones through the HNSW index.
_EXACT_SCOPE_NODES = 20_000

_NODE_COLUMNS = ("n.node_id, n.problem_id, n.step_text, n.step_norm, n.depth, n.visits, n.graded, n.successes, "
                 "n.terminal_visits, n.answer, n.score, n.vote_graded, n.vote_successes")


@dataclass(frozen=True)
class PlannerConfig:
    """Settings of the planner, validated on construction.

    Attributes:
        k: continuations returned by default.
        min_similarity: minimum cosine similarity of an approximate state or root match.
        dead_end_max_value: a child with a value of at most this ...
        dead_end_min_visits: ... on at least this many graded rollouts is a dead end.
        prior_successes, prior_failures: the Beta prior (1, 1 is uniform).
        vote_weight: weight of one majority-vote pseudo-outcome against one gold
            outcome (0 ignores votes).
        score_weight: pseudo-rollouts one step score counts as (0 ignores scores).
        scope: which nodes an approximate lookup searches: ``"same"`` (the
            problem's own), ``"similar"`` (the problem's and those of its
            ``scope_problems`` most similar problems) or ``"any"``.
        scope_problems: similar problems searched in the ``"similar"`` scope.
        candidates: nearest nodes fetched from the index per approximate lookup.
        max_matched_states: approximate matches whose children are merged.
        max_source_rollouts: rollout ids listed per continuation (the lowest ids).
        touch_batch: returned nodes buffered before ``last_used_at`` is written.
    """

    k: int = 5
    min_similarity: float = 0.8
    dead_end_max_value: float = 0.25
    dead_end_min_visits: int = 3
    prior_successes: float = 1.0
    prior_failures: float = 1.0
    vote_weight: float = 1.0
    score_weight: float = 1.0
    scope: str = "similar"
    scope_problems: int = 10
    candidates: int = 64
    max_matched_states: int = 8
    max_source_rollouts: int = 32
    touch_batch: int = 256

    def __post_init__(self) -> None:
        _check(self.k >= 1, "k", self.k, "return at least 1 continuation")
        _check(0.0 <= self.min_similarity <= 1.0, "min_similarity", self.min_similarity, "use a cosine in [0, 1]")
        _check(0.0 <= self.dead_end_max_value <= 1.0, "dead_end_max_value", self.dead_end_max_value,
               "use a value in [0, 1]")
        _check(self.dead_end_min_visits >= 1, "dead_end_min_visits", self.dead_end_min_visits, "use 1 or more")
        _check(self.prior_successes > 0, "prior_successes", self.prior_successes, "Beta priors must be positive")
        _check(self.prior_failures > 0, "prior_failures", self.prior_failures, "Beta priors must be positive")
        _check(self.vote_weight >= 0, "vote_weight", self.vote_weight, "use 0 or more")
        _check(self.score_weight >= 0, "score_weight", self.score_weight, "use 0 or more")
        _check(self.scope in SCOPES, "scope", self.scope, f"use one of {', '.join(SCOPES)}")
        for name in ("scope_problems", "candidates", "max_matched_states", "max_source_rollouts", "touch_batch"):
            _check(getattr(self, name) >= 1, name, getattr(self, name), "use 1 or more")


def _check(ok: bool, name: str, value: object, advice: str) -> None:
    if not ok:
        raise ConfigError(f"invalid planner {name} {value!r}: {advice}")


@dataclass(frozen=True)
class Continuation:
    """One next step from a state, with its value and provenance.

    Attributes:
        node_id: the state after the step (the most visited one when several merged).
        problem_id: the problem of ``node_id``.
        step_text: the step as first written.
        value, value_std: Beta posterior mean and standard deviation.
        visits: rollouts through the step.
        graded: of those, rollouts graded against the gold answer.
        successes: of those, rollouts graded correct.
        support_rollouts: rollouts behind the estimate (equal to ``visits``).
        support_problems: distinct problems the merged nodes belong to.
        is_terminal: some rollout ended at this step.
        answer: the answer extracted where a rollout ended here, if any.
        similarity: cosine similarity of the matched state (1.0 for an exact
            match, None where no lookup was made, as in :meth:`Planner.best_path`).
        source_rollouts: ids of rollouts through the step (at most
            ``max_source_rollouts``, lowest first).
        node_ids: every node merged into this continuation.
        score: the step score used in the value, if any.
        depth: steps taken when at ``node_id``.
        vote_graded: rollouts without a gold grade whose agreement with the
            majority vote is stored (see :mod:`tater_graph.backup`).
        vote_successes: of those, rollouts agreeing with the vote.
    """

    node_id: int
    problem_id: int
    step_text: str
    value: float
    value_std: float
    visits: int
    graded: int
    successes: int
    support_rollouts: int
    support_problems: int
    is_terminal: bool
    answer: str | None
    similarity: float | None
    source_rollouts: tuple[int, ...]
    node_ids: tuple[int, ...] = ()
    score: float | None = None
    depth: int = 0
    vote_graded: int = 0
    vote_successes: int = 0


@dataclass(frozen=True)
class PlannerResult:
    """The continuations and dead ends from one state.

    ``state_node_id`` is the exact or best approximate match, None when
    nothing matched; ``similarity`` is 1.0 for an exact match.
    """

    state_node_id: int | None
    exact: bool
    similarity: float | None
    continuations: tuple[Continuation, ...]
    dead_ends: tuple[Continuation, ...]
    matched_node_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class SimilarProblem:
    """A stored problem close to a question, with the steps of its best correct rollout.

    ``solved`` is True when some rollout was graded correct against the gold
    answer; ``verified_steps`` is then that rollout's steps, else empty.
    """

    problem_id: int
    question: str
    similarity: float
    gold_answer: str | None
    solved: bool
    verified_steps: tuple[str, ...]
    rollout_id: int | None = None


@dataclass(frozen=True)
class _Match:
    node_id: int
    problem_id: int
    similarity: float
    depth: int
    visits: int


class _NodeRow(NamedTuple):
    """The node columns the planner reads (:data:`_NODE_COLUMNS`, in order)."""

    node_id: int
    problem_id: int
    step_text: str
    step_norm: str
    depth: int
    visits: int
    graded: int
    successes: int
    terminal_visits: int
    answer: str | None
    score: float | None
    vote_graded: int
    vote_successes: int


@dataclass
class _Group:
    """Children of the matched states that share one normalized step."""

    rows: list[_NodeRow] = field(default_factory=list)
    similarity: float = 0.0


class Planner:
    """Reads continuations, dead ends and similar problems from a step graph.

    Not thread-safe for writes: use one planner per thread, or guard it.

    Args:
        graph: the open step graph (read-only graphs work; ``last_used_at`` is then not written).
        config: planner settings.
        scope: the problems retrieval may read (build one with
            :func:`tater_graph.bank.retrieval_scope`); default: the graph's
            namespace and the namespaces that granted it read access.
    """

    def __init__(self, graph: StepGraph, config: PlannerConfig = PlannerConfig(),
                 scope: RetrievalScope | None = None):
        self.graph = graph
        self.config = config
        if scope is None:
            scope = RetrievalScope(graph.namespace, visible_namespaces(graph.db.cursor(), graph.namespace))
        self.scope = scope
        self._local = threading.local()
        self._touched: set[int] = set()
        self._touch_lock = threading.Lock()
        self._problem_matrix: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None
        self._question_vectors: dict[str, np.ndarray] = {}

    # ---- public API ----------------------------------------------------------

    def continuations(self, problem: str | int, steps: Sequence[str] = (), k: int | None = None) -> PlannerResult:
        """Return the top-``k`` next steps and the dead ends from the state after ``steps``.

        Args:
            problem: a problem id, or question text (matched in the graph's namespace).
            steps: the steps taken so far, in any order.
            k: continuations to return; default ``config.k``.

        Raises:
            NotFoundError: ``problem`` is an id that is not stored.
            ConfigError: ``k`` is below 1, or a step is empty.
        """
        k = self.config.k if k is None else k
        if k < 1:
            raise ConfigError(f"invalid k {k}: return at least 1 continuation")
        steps = _check_steps(steps)
        problem_id, question = self._resolve(problem)

        matches, exact = self._match_state(problem_id, question, steps)
        if not matches:
            return PlannerResult(None, False, None, (), ())
        children = self._merge_children(matches)
        dead = [c for c in children if self._is_dead_end(c)]
        alive = [c for c in children if not self._is_dead_end(c)]

        best = matches[0]
        result = PlannerResult(
            state_node_id=best.node_id, exact=exact, similarity=best.similarity,
            continuations=tuple(alive[:k]), dead_ends=tuple(dead),
            matched_node_ids=tuple(m.node_id for m in matches),
        )
        self._touch([best.node_id] + [n for c in result.continuations + result.dead_ends for n in c.node_ids])
        return result

    def state(self, problem: str | int, steps: Sequence[str] = ()) -> Continuation | None:
        """Return the state after ``steps`` as a :class:`Continuation` (its value and support), or None.

        The lookup is the one of :meth:`continuations`: exact, else the best
        approximate match, whose cosine similarity the result carries.
        """
        steps = _check_steps(steps)
        problem_id, question = self._resolve(problem)
        matches, _ = self._match_state(problem_id, question, steps)
        if not matches:
            return None
        best = matches[0]
        row = self._cursor().execute(f"SELECT {_NODE_COLUMNS} FROM nodes n WHERE n.node_id = ?",
                                     [best.node_id]).fetchall()[0]
        group = _Group([_NodeRow(*row)], best.similarity)
        self._touch([best.node_id])
        return self._continuation(group, self._source_rollouts([best.node_id]), with_similarity=True)

    def dead_ends(self, problem: str | int, steps: Sequence[str] = ()) -> tuple[Continuation, ...]:
        """Return the known dead ends from the state after ``steps`` (see :meth:`continuations`)."""
        return self.continuations(problem, steps, k=1).dead_ends

    def matches_dead_end(self, problem: str | int, steps: Sequence[str]) -> bool:
        """Return whether the latest of ``steps`` leads to a known dead end.

        The latest step matches a dead end from the state before it when its
        normalized text is the same, or when it has the same numbers and its
        embedding has cosine similarity at least ``min_similarity`` with the
        dead end's step.
        """
        steps = _check_steps(steps)
        if not steps:
            return False
        dead = self.dead_ends(problem, steps[:-1])
        if not dead:
            return False
        latest = normalize_step(steps[-1])
        if any(normalize_step(d.step_text) == latest for d in dead):
            return True

        # A wrong step often differs from a right one only in a number ("2 + 3 = 6" against
        # "2 + 3 = 5"), which embeddings barely see: a paraphrase must keep the same numbers.
        numbers = _numbers(latest)
        dead = [d for d in dead if _numbers(normalize_step(d.step_text)) == numbers]
        if not dead:
            return False
        vectors = self.graph.embed([steps[-1]] + [d.step_text for d in dead])
        similarities = vectors[1:] @ vectors[0]
        return bool(np.max(similarities) >= self.config.min_similarity)

    def similar_problems(self, question: str, k: int = 5, exclude_problem_ids: Collection[int] = (),
                         min_similarity: float = -1.0) -> list[SimilarProblem]:
        """Return up to ``k`` stored problems most similar to ``question`` (cosine of problem vectors).

        Exact brute-force search over the namespace's problem vectors. Each
        result carries the steps of its best correct rollout: the one whose
        nodes have the highest mean value, then the fewest steps.
        """
        if k < 1:
            raise ConfigError(f"invalid k {k}: return at least 1 similar problem")
        ranked = self._rank_problems(question, exclude_problem_ids, k)
        ranked = [(pid, sim) for pid, sim in ranked if sim >= min_similarity]
        if not ranked:
            return []

        cursor = self._cursor()
        ids = [pid for pid, _ in ranked]
        info = {row[0]: row[1:] for row in cursor.execute(
            f"SELECT problem_id, question, gold_answer FROM problems WHERE problem_id IN ({_id_list(ids)})"
        ).fetchall()}
        best = self._best_correct_rollouts(ids)
        results = []
        for pid, sim in ranked:
            rollout_id, steps = best.get(pid, (None, ()))
            question_text, gold = info[pid]
            results.append(SimilarProblem(pid, question_text, float(sim), gold, rollout_id is not None,
                                          steps, rollout_id))
        return results

    def best_path(self, problem_id: int) -> list[Continuation]:
        """Return the greedy best path from the root: each time the highest-valued child.

        The walk stops at a node without children, or at a terminal node
        whose own value is at least that of its best child.

        Raises:
            NotFoundError: the problem is not stored.
        """
        self._resolve(problem_id)
        cursor = self._cursor()
        root = cursor.execute("SELECT node_id FROM nodes WHERE problem_id = ? AND state_key = ?",
                              [problem_id, ROOT_KEY]).fetchall()
        if not root:
            return []
        path: list[Continuation] = []
        current = _Match(root[0][0], problem_id, 1.0, 0, 0)
        for _ in range(10_000):  # a bound in case of corrupted edges; the DAG itself has no cycles
            children = self._merge_children([current], with_similarity=False)
            if not children:
                break
            best = children[0]
            if path and path[-1].is_terminal and path[-1].value >= best.value:
                break
            path.append(best)
            current = _Match(best.node_id, problem_id, 1.0, best.depth, best.visits)
        self._touch([c.node_id for c in path])
        return path

    def flush(self) -> None:
        """Write the buffered ``last_used_at`` times to the database."""
        with self._touch_lock:
            ids = sorted(self._touched)
            self._touched.clear()
        if not ids or self.graph.db.read_only:
            return
        with self.graph.db._lock:
            # NOTE: uses counts the batches a node was returned in, not every return within one batch.
            self.graph.db.con.execute(
                f"UPDATE nodes SET last_used_at = ?, uses = coalesce(uses, 0) + 1 WHERE node_id IN ({_id_list(ids)})",
                [datetime.now()],
            )
        logger.debug("recorded last use of %d nodes", len(ids))

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()

    # ---- state lookup ----------------------------------------------------------

    def _resolve(self, problem: str | int) -> tuple[int | None, str]:
        """Return (problem id or None when the question is not stored, question text)."""
        cursor = self._cursor()
        if isinstance(problem, bool) or not isinstance(problem, (int, str)):
            raise ConfigError(f"invalid problem {problem!r}: give a problem id (int) or the question text (str)")
        condition, params = self.scope.problem_filter()
        if isinstance(problem, int):
            rows = cursor.execute(f"SELECT question FROM problems WHERE problem_id = ? AND {condition}",
                                  [problem, *params]).fetchall()
            if not rows:
                raise NotFoundError(f"problem {problem} not found in namespaces {', '.join(self.scope.namespaces)} "
                                    "(or excluded by the leakage guard): list ids with "
                                    "`tater-graph sql \"SELECT problem_id, question FROM problems\"`")
            return problem, rows[0][0]
        if not problem.strip():
            raise ConfigError("the question is empty: give the problem text or its id")
        # The graph's own namespace first, when a granted namespace stores the same question too.
        rows = cursor.execute(f"SELECT problem_id FROM problems WHERE question_hash = ? AND {condition} "
                              "ORDER BY namespace <> ?, problem_id",
                              [question_hash(problem), *params, self.scope.namespace]).fetchall()
        return (rows[0][0] if rows else None), problem

    def _match_state(self, problem_id: int | None, question: str, steps: list[str]) -> tuple[list[_Match], bool]:
        """Return the matched states, best first, and whether the match is exact."""
        cursor = self._cursor()
        if problem_id is not None:
            key = state_keys([normalize_step(s) for s in steps])[-1] if steps else ROOT_KEY
            rows = cursor.execute("SELECT node_id, depth, visits FROM nodes WHERE problem_id = ? AND state_key = ?",
                                  [problem_id, key]).fetchall()
            if rows:
                node_id, depth, visits = rows[0]
                return [_Match(node_id, problem_id, 1.0, depth, visits)], True
        if not steps:
            return self._match_roots(question, problem_id), False
        return self._match_nodes(problem_id, question, steps), False

    def _match_roots(self, question: str, problem_id: int | None) -> list[_Match]:
        """Match the empty state of an unstored question to the roots of similar problems."""
        exclude = () if problem_id is None else (problem_id,)
        ranked = [(pid, sim) for pid, sim in self._rank_problems(question, exclude, self.config.max_matched_states)
                  if sim >= self.config.min_similarity]
        if not ranked:
            return []
        similarity = dict(ranked)
        rows = self._cursor().execute(
            f"SELECT node_id, problem_id, visits FROM nodes WHERE state_key = ? AND problem_id IN ({_id_list(similarity)})",
            [ROOT_KEY],
        ).fetchall()
        matches = [_Match(node_id, pid, float(similarity[pid]), 0, visits) for node_id, pid, visits in rows]
        matches.sort(key=lambda m: (-m.similarity, -m.visits, m.node_id))
        return matches

    def _match_nodes(self, problem_id: int | None, question: str, steps: list[str]) -> list[_Match]:
        """Match the state to stored nodes whose step embeds close to the latest step."""
        scope = self._scope_problems(problem_id, question)
        if scope is not None and not scope:
            return []
        vector = self.graph.embed([steps[-1]])[0]
        if scope is None:
            ids, similarities = self.graph.ensure_index().query(vector, self.config.candidates)
            ids, similarities = ids[0], similarities[0]
        else:
            ids, similarities = self._search_scope(vector, scope)
        close = {int(i): float(s) for i, s in zip(ids, similarities) if s >= self.config.min_similarity}
        if not close:
            return []
        rows = self._cursor().execute(
            f"SELECT node_id, problem_id, depth, visits FROM nodes WHERE node_id IN ({_id_list(close)})"
        ).fetchall()
        depth = len(steps)
        matches = [_Match(node_id, pid, close[node_id], d, visits) for node_id, pid, d, visits in rows]
        # NOTE: only the latest step is compared; earlier steps only break ties through the depth.
        matches.sort(key=lambda m: (-m.similarity, abs(m.depth - depth), -m.visits, m.node_id))
        return matches[: self.config.max_matched_states]

    def _search_scope(self, vector: np.ndarray, scope: set[int]) -> tuple[np.ndarray, np.ndarray]:
        """Return the nodes of the scope's problems closest to ``vector``, with their cosine similarities.

        A small scope (the usual case: one problem and its few most similar
        ones) is searched exactly in memory. A scope of more than
        ``_EXACT_SCOPE_NODES`` nodes goes through the HNSW index with a filter.
        """
        cursor = self._cursor()
        node_ids = [row[0] for row in cursor.execute(
            f"SELECT node_id FROM nodes WHERE depth > 0 AND problem_id IN ({_id_list(scope)})"
        ).fetchall()]
        if not node_ids:
            return np.empty(0, np.int64), np.empty(0)
        if len(node_ids) > _EXACT_SCOPE_NODES:
            ids, similarities = self.graph.ensure_index().query(vector, self.config.candidates, allowed_ids=node_ids)
            return ids[0], similarities[0]

        table = cursor.sql(
            f"SELECT node_id, embedding FROM node_vectors WHERE node_id IN ({_id_list(node_ids)})"
        ).to_arrow_table()
        ids = table.column("node_id").to_numpy()
        if len(ids) == 0:
            return np.empty(0, np.int64), np.empty(0)
        matrix = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(len(ids), len(vector))
        similarities = matrix @ vector
        top = np.argsort(-similarities, kind="stable")[: self.config.candidates]
        return ids[top], similarities[top]

    def _scope_problems(self, problem_id: int | None, question: str) -> set[int] | None:
        """Return the problem ids an approximate lookup may match, or None for any problem."""
        if self.config.scope == "any":
            return self._any_scope()
        scope = set() if problem_id is None else {problem_id}
        if self.config.scope == "similar":
            ranked = self._rank_problems(question, scope, self.config.scope_problems)
            scope.update(pid for pid, _ in ranked)
        return scope

    # ---- children and values ------------------------------------------------------

    def _merge_children(self, matches: Sequence[_Match], with_similarity: bool = True) -> list[Continuation]:
        """Return the children of the matched states, merged by normalized step and ranked by value."""
        parent_similarity = {m.node_id: m.similarity for m in matches}
        cursor = self._cursor()
        rows = cursor.execute(
            f"SELECT e.parent_id, {_NODE_COLUMNS} FROM edges e JOIN nodes n ON n.node_id = e.child_id "
            f"WHERE e.parent_id IN ({_id_list(parent_similarity)})"
        ).fetchall()
        if not rows:
            return []

        groups: dict[str, _Group] = {}
        for parent_id, *columns in rows:
            node = _NodeRow(*columns)
            group = groups.setdefault(node.step_norm, _Group())
            group.rows.append(node)
            group.similarity = max(group.similarity, parent_similarity[parent_id])
        sources = self._source_rollouts([node.node_id for group in groups.values() for node in group.rows])
        continuations = [self._continuation(g, sources, with_similarity) for g in groups.values()]
        continuations.sort(key=lambda c: (-c.value, -c.visits, c.node_id))
        return continuations

    def _continuation(self, group: _Group, sources: dict[int, list[int]], with_similarity: bool) -> Continuation:
        rows = sorted(group.rows, key=lambda r: (-r.visits, r.node_id))  # the most visited node represents the group
        first = rows[0]
        graded = sum(r.graded for r in rows)
        successes = sum(r.successes for r in rows)
        vote_graded = sum(r.vote_graded for r in rows)
        vote_successes = sum(r.vote_successes for r in rows)
        scores = [r.score for r in rows if r.score is not None]
        score = sum(scores) / len(scores) if scores else None
        rollouts = sorted({rid for r in rows for rid in sources.get(r.node_id, ())})[: self.config.max_source_rollouts]

        wins, losses = self._evidence(graded, successes, vote_graded, vote_successes, score)
        prior = (self.config.prior_successes, self.config.prior_failures)
        visits = sum(r.visits for r in rows)
        return Continuation(
            node_id=first.node_id, problem_id=first.problem_id, step_text=first.step_text,
            value=beta_mean(wins, losses, *prior), value_std=beta_std(wins, losses, *prior),
            visits=visits, graded=graded, successes=successes, support_rollouts=visits,
            support_problems=len({r.problem_id for r in rows}),
            is_terminal=any(r.terminal_visits > 0 for r in rows),
            answer=next((r.answer for r in rows if r.answer is not None), None),
            similarity=group.similarity if with_similarity else None, source_rollouts=tuple(rollouts),
            node_ids=tuple(r.node_id for r in rows), score=score, depth=first.depth,
            vote_graded=vote_graded, vote_successes=vote_successes,
        )

    def _evidence(self, graded: int, successes: int, vote_graded: int, vote_successes: int,
                  score: float | None) -> tuple[float, float]:
        """Return the weighted (successes, failures) the posterior is updated with."""
        wins = successes + self.config.vote_weight * vote_successes
        losses = (graded - successes) + self.config.vote_weight * (vote_graded - vote_successes)
        if score is not None and self.config.score_weight > 0:
            wins += self.config.score_weight * score
            losses += self.config.score_weight * (1.0 - score)
        return wins, losses

    def _is_dead_end(self, continuation: Continuation) -> bool:
        outcomes = continuation.graded + (continuation.vote_graded if self.config.vote_weight > 0 else 0)
        return outcomes >= self.config.dead_end_min_visits and continuation.value <= self.config.dead_end_max_value

    def _source_rollouts(self, node_ids: list[int]) -> dict[int, list[int]]:
        limit = self.config.max_source_rollouts
        rows = self._cursor().execute(
            "SELECT node_id, list(rollout_id ORDER BY rollout_id)[1:?] FROM rollout_steps "
            f"WHERE node_id IN ({_id_list(node_ids)}) GROUP BY node_id",
            [limit],
        ).fetchall()
        return {node_id: ids for node_id, ids in rows}

    # ---- problems --------------------------------------------------------------

    def _rank_problems(self, question: str, exclude: Collection[int] = (), limit: int | None = None
                       ) -> list[tuple[int, float]]:
        """Return (problem id, cosine) of the ``limit`` stored problems most similar to ``question``."""
        ids, matrix = self._problem_vectors()
        if len(ids) == 0:
            return []
        similarities = matrix @ self._question_vector(question)
        excluded = set(exclude)
        needed = len(ids) if limit is None else min(len(ids), limit + len(excluded))
        if needed < len(ids):
            top = np.argpartition(-similarities, needed - 1)[:needed]
        else:
            top = np.arange(len(ids))
        order = top[np.lexsort((ids[top], -similarities[top]))]  # most similar first, ties to the lower id
        ranked = [(int(ids[i]), float(similarities[i])) for i in order if int(ids[i]) not in excluded]
        return ranked if limit is None else ranked[:limit]

    def _question_vector(self, question: str) -> np.ndarray:
        """Return the question's embedding, cached because search looks up one question many times."""
        vector = self._question_vectors.get(question)
        if vector is None:
            if len(self._question_vectors) >= 1024:
                self._question_vectors.clear()
            vector = self.graph.embed([question])[0]
            self._question_vectors[question] = vector
        return vector

    def _problem_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the namespace's problem ids and vectors, reloaded only when problems were added."""
        cursor = self._cursor()
        stamp = cursor.execute("SELECT count(*), coalesce(max(problem_id), 0) FROM problem_vectors").fetchall()[0]
        if self._problem_matrix is not None and self._problem_matrix[0] == stamp:
            return self._problem_matrix[1], self._problem_matrix[2]
        condition, params = self.scope.problem_filter("v.problem_id")
        table = cursor.sql(
            f"SELECT v.problem_id, v.embedding FROM problem_vectors v WHERE {condition} ORDER BY v.problem_id",
            params=params,
        ).to_arrow_table()
        ids = table.column("problem_id").to_numpy()
        dim = self.graph.index.dim
        matrix = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(len(ids), dim)
        self._problem_matrix = (stamp, ids, matrix)
        return ids, matrix

    def _best_correct_rollouts(self, problem_ids: list[int]) -> dict[int, tuple[int, tuple[str, ...]]]:
        """Return each problem's best gold-correct rollout: (rollout id, steps)."""
        cursor = self._cursor()
        rollouts = cursor.execute(
            f"SELECT rollout_id, problem_id, n_steps FROM rollouts WHERE is_correct AND n_steps > 0 "
            f"AND problem_id IN ({_id_list(problem_ids)})"
        ).fetchall()
        if not rollouts:
            return {}
        steps = cursor.execute(
            "SELECT s.rollout_id, list(s.step_text ORDER BY s.position), avg(n.value) "
            f"FROM rollout_steps s JOIN nodes n ON n.node_id = s.node_id "
            f"WHERE s.rollout_id IN ({_id_list(r[0] for r in rollouts)}) GROUP BY s.rollout_id"
        ).fetchall()
        path = {rollout_id: (tuple(texts), mean_value) for rollout_id, texts, mean_value in steps}

        best: dict[int, tuple[tuple[float, int, int], int]] = {}
        for rollout_id, problem_id, n_steps in rollouts:
            key = (-path[rollout_id][1], n_steps, rollout_id)  # highest mean value, then fewest steps
            if problem_id not in best or key < best[problem_id][0]:
                best[problem_id] = (key, rollout_id)
        return {pid: (rollout_id, path[rollout_id][0]) for pid, (_, rollout_id) in best.items()}

    # ---- plumbing ----------------------------------------------------------------

    def _cursor(self):
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self.graph.db.cursor()
            self._local.cursor = cursor
        return cursor

    def _any_scope(self) -> set[int] | None:
        """Return the problems in scope, or None when the scope is the whole database (no filter needed)."""
        if not self.scope.excluded_problem_ids:
            placeholders = ", ".join("?" for _ in self.scope.namespaces)
            outside = self._cursor().execute(
                f"SELECT count(*) FROM problems WHERE namespace NOT IN ({placeholders})", list(self.scope.namespaces)
            ).fetchall()[0][0]
            if outside == 0:
                return None
        return set(self.scope.allowed_problem_ids(self.graph))

    def _touch(self, node_ids: Sequence[int]) -> None:
        with self._touch_lock:
            self._touched.update(node_ids)
            full = len(self._touched) >= self.config.touch_batch
        if full:
            self.flush()


def _id_list(ids) -> str:
    """Return ids as a SQL literal list; DuckDB prunes row groups with it, unlike a joined parameter list."""
    text = ",".join(str(int(i)) for i in ids)
    return text or "NULL"


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _numbers(step_norm: str) -> list[str]:
    """Return the sorted numbers of a normalized step (``normalize_step`` already writes them one way)."""
    return sorted(_NUMBER.findall(step_norm))


def _check_steps(steps: Sequence[str]) -> list[str]:
    if isinstance(steps, str):
        raise ConfigError("steps must be a sequence of step texts, not one string: wrap it in a list")
    steps = list(steps)
    for position, step in enumerate(steps, start=1):
        if not isinstance(step, str) or not step.strip():
            raise ConfigError(f"step {position} is empty or not text: give non-empty step texts")
    return steps
