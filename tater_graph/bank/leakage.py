"""Leakage guard: keep the problems of an evaluation set out of retrieval.

A stored problem is excluded when its id is listed or when its
``question_hash`` equals the hash of an evaluation question. It is also
excluded when the cosine similarity of its stored question vector to an
evaluation question's vector reaches the threshold, which catches near
duplicates: reworded, renumbered or reformatted copies. The guard's description is stored with the run in
``runs.leakage_guard``, so a result can be traced to the guard it ran under.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tater_graph.errors import ConfigError
from tater_graph.records import Problem
from tater_graph.store.database import Database
from tater_graph.store.writer import question_hash

Embed = Callable[[list[str]], np.ndarray]
_CHUNK = 50_000


@dataclass(frozen=True)
class LeakageGuard:
    """The evaluation set to exclude from retrieval.

    Attributes:
        name: a label for the evaluation set, stored with the run (e.g. ``gsm8k-test[0:100]``).
        questions: evaluation question texts, matched by hash and by vector similarity.
        problem_ids: stored problem ids to exclude whatever their text.
        similarity_threshold: cosine similarity at or above which a stored
            question counts as a near duplicate; above 1.0 turns the vector match off.
    """

    name: str
    questions: tuple[str, ...] = ()
    problem_ids: frozenset[int] = field(default_factory=frozenset)
    similarity_threshold: float = 0.95

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a leakage guard needs a name for its evaluation set, e.g. 'gsm8k-test'")
        if not 0.0 < self.similarity_threshold:
            raise ConfigError(f"invalid similarity threshold {self.similarity_threshold}: use a value in (0, 1], "
                              "or above 1 to match by id and hash only")

    @classmethod
    def from_problems(cls, name: str, problems: Iterable[Problem], similarity_threshold: float = 0.95) -> LeakageGuard:
        """Build a guard from evaluation problems (their question texts)."""
        return cls(name, tuple(p.question for p in problems), similarity_threshold=similarity_threshold)

    @property
    def question_hashes(self) -> frozenset[str]:
        return frozenset(question_hash(q) for q in self.questions)

    def describe(self, excluded: int | None = None) -> dict[str, object]:
        """Return the JSON-ready record stored in ``runs.leakage_guard``."""
        record: dict[str, object] = {
            "name": self.name, "questions": len(self.questions), "problem_ids": len(self.problem_ids),
            "similarity_threshold": self.similarity_threshold,
        }
        if excluded is not None:
            record["excluded_problems"] = excluded
        return record


def excluded_problems(db: Database, guard: LeakageGuard, namespaces: Sequence[str], embed: Embed | None) -> frozenset[int]:
    """Return the ids of problems in ``namespaces`` that the guard excludes.

    Without ``embed`` only ids and hashes are matched.
    """
    con = db.cursor()
    try:
        placeholders = ", ".join("?" for _ in namespaces)
        rows = con.execute(f"SELECT problem_id, question_hash FROM problems WHERE namespace IN ({placeholders})",
                           list(namespaces)).fetchall()
        hashes = guard.question_hashes
        excluded = {pid for pid, qhash in rows if pid in guard.problem_ids or qhash in hashes}
        if embed is not None and guard.questions and guard.similarity_threshold <= 1.0:
            excluded |= _near_duplicates(con, guard, placeholders, list(namespaces), embed)
    finally:
        con.close()
    return frozenset(excluded)


def _near_duplicates(con, guard: LeakageGuard, placeholders: str, namespaces: list[str], embed: Embed) -> set[int]:
    queries = _unit(np.asarray(embed(list(guard.questions)), dtype=np.float32))
    found: set[int] = set()
    last = 0
    while True:
        table = con.sql(
            "SELECT v.problem_id, v.embedding FROM problem_vectors v JOIN problems p USING (problem_id) "
            f"WHERE p.namespace IN ({placeholders}) AND v.problem_id > ? ORDER BY v.problem_id LIMIT ?",
            params=[*namespaces, last, _CHUNK],
        ).to_arrow_table()
        if table.num_rows == 0:
            return found
        ids = table.column("problem_id").to_numpy()
        stored = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(len(ids), -1)
        best = (_unit(stored.astype(np.float32)) @ queries.T).max(axis=1)
        found.update(int(i) for i in ids[best >= guard.similarity_threshold])
        last = int(ids[-1])


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def record_guard(db: Database, run_id: int, guard: LeakageGuard | None, excluded: int | None = None) -> None:
    """Store which guard a run used in ``runs.leakage_guard`` (NULL: no guard)."""
    value = None if guard is None else json.dumps(guard.describe(excluded), sort_keys=True)
    db.con.execute("UPDATE runs SET leakage_guard = ? WHERE run_id = ?", [value, run_id])
