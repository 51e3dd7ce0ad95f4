"""Merge rollouts into one step DAG per problem and write them in one transaction.

A node is a reasoning state: the problem plus the multiset of normalized
steps taken so far. Its key is an order-independent hash (the sum modulo
2**128 of per-step 128-bit BLAKE2b hashes), so the same steps taken in a
different order reach the same node, while the same step text after other
steps is another node. Every state strictly grows by one step along a
rollout, so the graph has no cycles. Each problem has a root node (depth 0,
empty state).

Counts on a node: ``visits`` (rollouts through it), ``graded`` (those whose
correctness is known), ``successes`` (those graded correct), and
``terminal_visits`` (rollouts that ended there). ``value`` is the posterior
mean of a Beta(1, 1) prior updated with the graded outcomes:
``(successes + 1) / (graded + 2)``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from tater_graph.errors import IngestError
from tater_graph.records import IngestResult, Rollout
from tater_graph.steps import normalize_step
from tater_graph.store.database import Database

logger = logging.getLogger(__name__)

ROOT_KEY = format(0, "032x")
_MASK = (1 << 128) - 1


def question_hash(question: str) -> str:
    """Return the identity hash of a problem statement (whitespace and case folded)."""
    folded = re.sub(r"\s+", " ", question).strip().casefold()
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=16).hexdigest()


@functools.lru_cache(maxsize=1 << 16)
def step_hash(step_norm: str) -> int:
    return int.from_bytes(hashlib.blake2b(step_norm.encode("utf-8"), digest_size=16).digest(), "big")


def state_keys(step_norms: Sequence[str]) -> list[str]:
    """Return the state key after each step (the root key is not included)."""
    keys = []
    state = 0
    for norm in step_norms:
        state = (state + step_hash(norm)) & _MASK
        keys.append(format(state, "032x"))
    return keys


@dataclass
class _NewNode:
    node_id: int
    problem_id: int
    state_key: str
    depth: int
    step_text: str
    step_norm: str


Embed = Callable[[list[str]], np.ndarray]
AlsoWrite = Callable[[duckdb.DuckDBPyConnection, IngestResult], None]


class GraphWriter:
    """Write rollouts into the store, merging their steps into the per-problem DAGs.

    Args:
        db: the open database (read-write).
        embed: maps step texts to float32 vectors of shape (n, 384), or None
            to store no vectors.
        namespace: the bank that new problems belong to.
    """

    def __init__(self, db: Database, embed: Embed | None = None, namespace: str = "default"):
        self.db = db
        self.embed = embed
        self.namespace = namespace

    def write(self, rollouts: Sequence[Rollout], run_id: int | None = None,
              also_write: AlsoWrite | None = None) -> IngestResult:
        """Write ``rollouts`` in one transaction; on any error nothing is written.

        ``also_write(con, result)``, when given, runs inside that transaction
        after the rollouts are inserted, so rows that belong with them (a run's
        per-problem ledger) are committed, or rolled back, together.
        """
        for number, rollout in enumerate(rollouts, start=1):
            _validate(rollout, number)
        if not rollouts:
            return IngestResult(0, 0, 0, 0)

        con = self.db.con
        with self.db._lock:
            problem_ids, new_problems = self._resolve_problems(rollouts)
            existing = self._load_nodes(sorted(set(problem_ids)))
            plan = _plan(rollouts, problem_ids, existing, self.db.next_id("nodes", "node_id"),
                         self.db.next_id("rollouts", "rollout_id"))
            result = IngestResult(
                problems=len(set(problem_ids)),
                rollouts=len(rollouts),
                new_nodes=len(plan.new_nodes),
                new_edges=len(plan.new_edges),
                rollout_ids=tuple(plan.rollout_ids),
            )

            node_vectors = self._embed([n.step_text for n in plan.new_nodes if n.depth > 0])
            problem_vectors = self._embed([p[2] for p in new_problems])

            with self.db.transaction():
                _insert_problems(con, new_problems, self.namespace)
                _insert_rollouts(con, rollouts, plan, problem_ids, run_id)
                _insert_nodes(con, plan.new_nodes)
                _insert_edges(con, plan.new_edges)
                _insert_rollout_steps(con, plan)
                _apply_counts(con, plan)
                if node_vectors is not None:
                    ids = [n.node_id for n in plan.new_nodes if n.depth > 0]
                    _insert_vectors(con, "node_vectors", "node_id", ids, node_vectors)
                if problem_vectors is not None:
                    _insert_vectors(con, "problem_vectors", "problem_id", [p[0] for p in new_problems], problem_vectors)
                if also_write is not None:
                    also_write(con, result)

        logger.debug("wrote %d rollouts, %d new nodes", len(rollouts), len(plan.new_nodes))
        return result

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        """Embed each distinct text once: one step text often ends several new nodes."""
        if self.embed is None or not texts:
            return None
        rows: dict[str, int] = {}
        row_of_text = [rows.setdefault(text, len(rows)) for text in texts]
        vectors = np.asarray(self.embed(list(rows)), dtype=np.float32)
        return vectors[row_of_text]

    def _resolve_problems(self, rollouts: Sequence[Rollout]) -> tuple[list[int], list[tuple]]:
        """Return each rollout's problem id, and the rows of problems to create."""
        # Rollouts of one problem share its question, so each text is hashed once.
        hash_of: dict[str, str] = {}
        for rollout in rollouts:
            if rollout.problem.question not in hash_of:
                hash_of[rollout.problem.question] = question_hash(rollout.problem.question)
        hashes = {hash_of[r.problem.question]: r.problem for r in rollouts}
        table = pa.table({"question_hash": list(hashes)})
        self.db.con.register("_tg_hashes", table)
        try:
            found = dict(
                self.db.con.execute(
                    "SELECT p.question_hash, p.problem_id FROM problems p JOIN _tg_hashes h USING (question_hash) "
                    "WHERE p.namespace = ?",
                    [self.namespace],
                ).fetchall()
            )
        finally:
            self.db.con.unregister("_tg_hashes")

        next_id = self.db.next_id("problems", "problem_id")
        new_problems = []
        for qhash, problem in hashes.items():
            if qhash not in found:
                found[qhash] = next_id
                new_problems.append((next_id, qhash, problem.question, problem))
                next_id += 1
        ids = [found[hash_of[r.problem.question]] for r in rollouts]
        return ids, new_problems

    def _load_nodes(self, problem_ids: list[int]) -> dict[tuple[int, str], int]:
        """Return the existing (problem_id, state_key) -> node_id map of the given problems."""
        self.db.con.register("_tg_problem_ids", pa.table({"problem_id": pa.array(problem_ids, pa.int64())}))
        try:
            rows = self.db.con.execute(
                "SELECT n.problem_id, n.state_key, n.node_id FROM nodes n JOIN _tg_problem_ids USING (problem_id)"
            ).fetchall()
        finally:
            self.db.con.unregister("_tg_problem_ids")
        return {(problem_id, key): node_id for problem_id, key, node_id in rows}


@dataclass
class _Plan:
    new_nodes: list[_NewNode]
    new_edges: list[tuple[int, int, int, str]]
    paths: list[list[int]]
    rollout_ids: list[int]
    node_visits: dict[int, list[int]]
    edge_traversals: dict[tuple[int, int], int]
    terminal_answers: dict[int, str]
    step_texts: list[str]
    step_labels: list[int | None]


def _plan(rollouts: Sequence[Rollout], problem_ids: list[int], existing: dict[tuple[int, str], int],
          next_node_id: int, next_rollout_id: int) -> _Plan:
    """Compute in memory every row the write will add or update."""
    node_ids = dict(existing)
    new_nodes: list[_NewNode] = []
    new_edges: list[tuple[int, int, int, str]] = []
    known_edges: set[tuple[int, int]] = set()
    # node_id -> [visits, graded, successes, terminal_visits]
    node_visits: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    edge_traversals: dict[tuple[int, int], int] = defaultdict(int)
    terminal_answers: dict[int, str] = {}
    paths = []
    # Rollouts of one problem repeat their shared prefixes, so each text is normalized once.
    normalized: dict[str, str] = {}
    step_texts: list[str] = []
    step_labels: list[int | None] = []

    def node_for(problem_id: int, key: str, depth: int, text: str, norm: str) -> int:
        nonlocal next_node_id
        found = node_ids.get((problem_id, key))
        if found is None:
            found = next_node_id
            next_node_id += 1
            node_ids[(problem_id, key)] = found
            new_nodes.append(_NewNode(found, problem_id, key, depth, text, norm))
        return found

    for rollout, problem_id in zip(rollouts, problem_ids):
        for step in rollout.steps:
            if step not in normalized:
                normalized[step] = normalize_step(step)
        norms = [normalized[step] for step in rollout.steps]
        path = [node_for(problem_id, ROOT_KEY, 0, "", "")]
        for depth, (step, norm, key) in enumerate(zip(rollout.steps, norms, state_keys(norms)), start=1):
            child = node_for(problem_id, key, depth, step, norm)
            edge = (path[-1], child)
            if edge not in known_edges:
                known_edges.add(edge)
                new_edges.append((path[-1], child, problem_id, norm))
            edge_traversals[edge] += 1
            path.append(child)

        paths.append(path)
        step_texts.extend(rollout.steps)
        step_labels.extend(rollout.step_labels or [None] * len(rollout.steps))
        if rollout.error is not None and not rollout.steps:
            continue

        graded = rollout.is_correct is not None
        for node_id in path:
            counts = node_visits[node_id]
            counts[0] += 1
            counts[1] += graded
            counts[2] += rollout.is_correct is True
        node_visits[path[-1]][3] += 1
        if rollout.answer is not None:
            terminal_answers.setdefault(path[-1], rollout.answer)

    rollout_ids = list(range(next_rollout_id, next_rollout_id + len(rollouts)))
    return _Plan(new_nodes, new_edges, paths, rollout_ids, node_visits, edge_traversals, terminal_answers,
                 step_texts, step_labels)


def _validate(rollout: Rollout, number: int) -> None:
    if not isinstance(rollout.problem.question, str) or not rollout.problem.question.strip():
        raise IngestError("the problem question is empty: every rollout needs its question text",
                          line=number, field="question")
    for field_name in ("question", "gold_answer"):
        _check_text(getattr(rollout.problem, field_name), number, field_name)
    for field_name in ("answer", "text", "generator"):
        _check_text(getattr(rollout, field_name), number, field_name)
    if not rollout.steps:
        if rollout.error is not None:
            return  # a failed sample is recorded without steps and counts toward no node
        raise IngestError("the rollout has no steps: give at least one non-empty step", line=number, field="steps")
    for position, step in enumerate(rollout.steps, start=1):
        if not isinstance(step, str) or not step.strip():
            raise IngestError(f"step {position} is empty or not text", line=number, field="steps")
        _check_text(step, number, "steps", subject=f"step {position} ")
    if rollout.step_labels is not None and len(rollout.step_labels) != len(rollout.steps):
        raise IngestError(
            f"{len(rollout.step_labels)} step labels for {len(rollout.steps)} steps: give one label per step",
            line=number, field="step_labels",
        )


def _check_text(value: str | None, number: int, field_name: str, subject: str = "") -> None:
    """Reject text that DuckDB cannot store as VARCHAR: NUL characters and lone surrogates."""
    if value is None:
        return
    if "\x00" in value:
        raise IngestError(f"{subject}contains a NUL character: remove it", line=number, field=field_name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise IngestError(f"{subject}contains an unpaired surrogate at character {error.start}, which is not "
                          "valid Unicode: fix the encoding", line=number, field=field_name) from error


def _insert_problems(con, new_problems: list[tuple], namespace: str) -> None:
    if not new_problems:
        return
    table = pa.table({
        "problem_id": pa.array([p[0] for p in new_problems], pa.int64()),
        "namespace": [namespace] * len(new_problems),
        "dataset": [p[3].dataset for p in new_problems],
        "source_id": [p[3].source_id for p in new_problems],
        "question": [p[2] for p in new_problems],
        "question_hash": [p[1] for p in new_problems],
        "gold_answer": [p[3].gold_answer for p in new_problems],
    })
    _insert(con, "problems", table)


def _insert_rollouts(con, rollouts: Sequence[Rollout], plan: _Plan, problem_ids: list[int], run_id: int | None) -> None:
    table = pa.table({
        "rollout_id": pa.array(plan.rollout_ids, pa.int64()),
        "problem_id": pa.array(problem_ids, pa.int64()),
        "run_id": pa.array([run_id] * len(rollouts), pa.int64()),
        "source": [r.source for r in rollouts],
        "generator": [r.generator for r in rollouts],
        "seed": pa.array([r.seed for r in rollouts], pa.int64()),
        "text": [r.text for r in rollouts],
        "answer": [r.answer for r in rollouts],
        "is_correct": pa.array([r.is_correct for r in rollouts], pa.bool_()),
        "n_steps": pa.array([len(r.steps) for r in rollouts], pa.int32()),
        "terminal_node_id": pa.array([path[-1] for path in plan.paths], pa.int64()),
        "prompt_tokens": pa.array([r.prompt_tokens for r in rollouts], pa.int64()),
        "generated_tokens": pa.array([r.generated_tokens for r in rollouts], pa.int64()),
        "reused_tokens": pa.array([r.reused_tokens for r in rollouts], pa.int64()),
        "wall_seconds": pa.array([float(r.wall_seconds) for r in rollouts], pa.float64()),
        "score": pa.array([r.score for r in rollouts], pa.float64()),
        "error": [r.error for r in rollouts],
    })
    _insert(con, "rollouts", table)


def _insert_nodes(con, new_nodes: list[_NewNode]) -> None:
    if not new_nodes:
        return
    table = pa.table({
        "node_id": pa.array([n.node_id for n in new_nodes], pa.int64()),
        "problem_id": pa.array([n.problem_id for n in new_nodes], pa.int64()),
        "state_key": [n.state_key for n in new_nodes],
        "depth": pa.array([n.depth for n in new_nodes], pa.int32()),
        "step_text": [n.step_text for n in new_nodes],
        "step_norm": [n.step_norm for n in new_nodes],
    })
    _insert(con, "nodes", table)


def _insert_edges(con, new_edges: list[tuple[int, int, int, str]]) -> None:
    if not new_edges:
        return
    table = pa.table({
        "parent_id": pa.array([e[0] for e in new_edges], pa.int64()),
        "child_id": pa.array([e[1] for e in new_edges], pa.int64()),
        "problem_id": pa.array([e[2] for e in new_edges], pa.int64()),
        "step_norm": [e[3] for e in new_edges],
    })
    # An edge between two existing nodes may already be stored: keep the stored row.
    con.register("_tg_new_edges", table)
    try:
        con.execute(
            "INSERT INTO edges (parent_id, child_id, problem_id, step_norm) "
            "SELECT n.parent_id, n.child_id, n.problem_id, n.step_norm FROM _tg_new_edges n "
            "ANTI JOIN edges e ON e.parent_id = n.parent_id AND e.child_id = n.child_id"
        )
    finally:
        con.unregister("_tg_new_edges")


def _insert_rollout_steps(con, plan: _Plan) -> None:
    rollout_ids, positions, node_ids = [], [], []
    for rollout_id, path in zip(plan.rollout_ids, plan.paths):
        for position, node_id in enumerate(path[1:], start=1):
            rollout_ids.append(rollout_id)
            positions.append(position)
            node_ids.append(node_id)
    if not rollout_ids:
        return
    table = pa.table({
        "rollout_id": pa.array(rollout_ids, pa.int64()),
        "position": pa.array(positions, pa.int32()),
        "node_id": pa.array(node_ids, pa.int64()),
        "step_text": plan.step_texts,
        "label": pa.array(plan.step_labels, pa.int32()),
    })
    _insert(con, "rollout_steps", table)


def _apply_counts(con, plan: _Plan) -> None:
    node_ids = list(plan.node_visits)
    counts = np.array([plan.node_visits[n] for n in node_ids], dtype=np.int64).reshape(-1, 4)
    deltas = pa.table({
        "node_id": pa.array(node_ids, pa.int64()),
        "visits": counts[:, 0],
        "graded": counts[:, 1],
        "successes": counts[:, 2],
        "terminal_visits": counts[:, 3],
        "answer": [plan.terminal_answers.get(n) for n in node_ids],
    })
    con.register("_tg_node_deltas", deltas)
    try:
        con.execute(
            "UPDATE nodes SET visits = nodes.visits + d.visits, graded = nodes.graded + d.graded, "
            "successes = nodes.successes + d.successes, terminal_visits = nodes.terminal_visits + d.terminal_visits, "
            "value = (nodes.successes + d.successes + 1.0) / (nodes.graded + d.graded + 2.0), "
            "answer = coalesce(nodes.answer, d.answer) "
            "FROM _tg_node_deltas d WHERE nodes.node_id = d.node_id"
        )
    finally:
        con.unregister("_tg_node_deltas")

    edges = list(plan.edge_traversals)
    if not edges:
        return
    edge_deltas = pa.table({
        "parent_id": pa.array([e[0] for e in edges], pa.int64()),
        "child_id": pa.array([e[1] for e in edges], pa.int64()),
        "traversals": pa.array([plan.edge_traversals[e] for e in edges], pa.int64()),
    })
    con.register("_tg_edge_deltas", edge_deltas)
    try:
        con.execute(
            "UPDATE edges SET traversals = edges.traversals + d.traversals FROM _tg_edge_deltas d "
            "WHERE edges.parent_id = d.parent_id AND edges.child_id = d.child_id"
        )
    finally:
        con.unregister("_tg_edge_deltas")


def _insert_vectors(con, table_name: str, id_column: str, ids: list[int], vectors: np.ndarray) -> None:
    dim = vectors.shape[1]
    flat = pa.array(vectors.reshape(-1), pa.float32())
    table = pa.table({
        id_column: pa.array(ids, pa.int64()),
        "embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
    })
    _insert(con, table_name, table)


def _insert(con, table_name: str, table: pa.Table) -> None:
    view = f"_tg_insert_{table_name}"
    con.register(view, table)
    try:
        columns = ", ".join(table.column_names)
        con.execute(f"INSERT INTO {table_name} ({columns}) SELECT {columns} FROM {view}")
    finally:
        con.unregister(view)
