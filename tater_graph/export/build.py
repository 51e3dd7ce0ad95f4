"""Build networkx DiGraphs from the stored step DAGs."""

from __future__ import annotations

import networkx as nx

from tater_graph.errors import NotFoundError
from tater_graph.store.database import Database

NODE_COLUMNS = ("node_id", "problem_id", "depth", "step_text", "step_norm", "visits", "graded", "successes",
                "value", "terminal_visits", "answer", "score")


def problem_graph(db: Database, problem_id: int) -> nx.DiGraph:
    """Return the DAG of one problem: nodes keyed by node id, with their stored attributes.

    Raises:
        NotFoundError: no problem has this id.
    """
    cursor = db.cursor()
    found = cursor.execute("SELECT question, gold_answer FROM problems WHERE problem_id = ?", [problem_id]).fetchall()
    if not found:
        raise NotFoundError(f"problem {problem_id} not found: list problems with "
                            "`tater-graph sql \"SELECT problem_id, question FROM problems\"`")
    graph = nx.DiGraph(problem_id=problem_id, question=found[0][0], gold_answer=found[0][1])
    rows = cursor.execute(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE problem_id = ? ORDER BY node_id",
                          [problem_id]).fetchall()
    for row in rows:
        attributes = dict(zip(NODE_COLUMNS, row))
        attributes["terminal"] = attributes["terminal_visits"] > 0
        graph.add_node(attributes.pop("node_id"), **attributes)
    for parent, child, traversals, step_norm in cursor.execute(
        "SELECT parent_id, child_id, traversals, step_norm FROM edges WHERE problem_id = ?", [problem_id]
    ).fetchall():
        graph.add_edge(parent, child, traversals=traversals, step_norm=step_norm)
    return graph
