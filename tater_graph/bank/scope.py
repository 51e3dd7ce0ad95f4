"""Retrieval scope: the visible namespaces minus the problems the leakage guard excludes."""

from __future__ import annotations

from dataclasses import dataclass, field

from tater_graph.bank.leakage import LeakageGuard, excluded_problems
from tater_graph.bank.namespaces import visible_namespaces
from tater_graph.graph import StepGraph


@dataclass(frozen=True)
class RetrievalScope:
    """The namespaces a retrieval reads and the problems it must skip.

    Attributes:
        namespace: the namespace retrieving.
        namespaces: it and the namespaces that granted it read access.
        excluded_problem_ids: problems of those namespaces the leakage guard excludes.
        guard: the leakage guard, or None when off.
    """

    namespace: str
    namespaces: tuple[str, ...]
    excluded_problem_ids: frozenset[int] = field(default_factory=frozenset)
    guard: LeakageGuard | None = None

    def problem_filter(self, column: str = "problem_id") -> tuple[str, list[object]]:
        """Return a SQL condition on ``column`` and its parameters that keeps only problems in scope.

        >>> RetrievalScope("a", ("a", "b"), frozenset({7})).problem_filter("n.problem_id")
        ('n.problem_id IN (SELECT problem_id FROM problems WHERE namespace IN (?, ?)) AND n.problem_id NOT IN (7)', ['a', 'b'])
        """
        placeholders = ", ".join("?" for _ in self.namespaces)
        condition = f"{column} IN (SELECT problem_id FROM problems WHERE namespace IN ({placeholders}))"
        if self.excluded_problem_ids:
            condition += f" AND {column} NOT IN ({', '.join(str(int(i)) for i in sorted(self.excluded_problem_ids))})"
        return condition, list(self.namespaces)

    def allowed_problem_ids(self, graph: StepGraph) -> frozenset[int]:
        """Return every problem id in scope (for filtering vector-index hits in Python)."""
        condition, params = self.problem_filter()
        rows = graph.db.cursor().execute(f"SELECT problem_id FROM problems WHERE {condition}", params).fetchall()
        return frozenset(row[0] for row in rows)


def retrieval_scope(graph: StepGraph, guard: LeakageGuard | None = None, namespace: str | None = None) -> RetrievalScope:
    """Build the scope of ``namespace`` (default: the graph's) under ``guard``."""
    namespace = namespace or graph.namespace
    namespaces = visible_namespaces(graph.db.cursor(), namespace)
    excluded = frozenset() if guard is None else excluded_problems(graph.db, guard, namespaces, graph.embed)
    return RetrievalScope(namespace, namespaces, excluded, guard)
