"""One writer process, readers through cursors in its threads; other processes get a clear error.

DuckDB (2.0) locks the file exclusively for a read-write open and shared
for a read-only open. So while a writer process has the graph open, no
other process can open it, not even read-only; several read-only processes
can share it when no writer has it open. Inside the writer process, threads
read through ``db.cursor()`` and the index lock.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.check import check_graph
from tater_graph.errors import DatabaseLockedError
from tater_graph.planner import Planner
from tater_graph.sql import query
from tater_graph.store.database import Database

HOLDER = """
import sys
from tater_graph.store.database import Database
db = Database(sys.argv[1], read_only=sys.argv[2] == "read-only")
print("holding", flush=True)
sys.stdin.read()  # hold the database until the test closes stdin
db.close()
"""


def env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    variables = dict(os.environ)
    variables["PYTHONPATH"] = os.pathsep.join([root, variables["PYTHONPATH"]]) if variables.get("PYTHONPATH") else root
    return variables


class Holder:
    """Another process that keeps the database open until the block ends."""

    def __init__(self, db_path: Path, mode: str):
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path), mode], env=env(),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)

    def __enter__(self) -> Holder:
        line = self.process.stdout.readline()
        assert line.strip() == "holding", self.process.stderr.read()
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)

    @property
    def pid(self) -> int:
        return self.process.pid


def seed_graph(db_path: Path) -> None:
    problem = Problem("What is 6 times 7?", "42")
    with StepGraph.open(db_path, embedder="hashed") as graph:
        graph.ingest([Rollout(problem, ("6 times 7 is 42.", "#### 42"), "42", True)])


def test_second_writer_gets_clear_error(db_path):
    seed_graph(db_path)

    with Holder(db_path, "read-write") as holder:
        with pytest.raises(DatabaseLockedError) as caught:
            StepGraph.open(db_path)

    message = str(caught.value)
    assert str(db_path) in message
    assert f"process {holder.pid}" in message
    assert check_graph(db_path).ok


def test_second_writer_in_another_process_gets_clear_error(db_path):
    seed_graph(db_path)
    attempt = ("import sys\nfrom tater_graph import StepGraph\n"
               "try:\n    StepGraph.open(sys.argv[1])\nexcept Exception as error:\n"
               "    print(type(error).__name__, error)\n")

    with StepGraph.open(db_path) as graph:
        result = subprocess.run([sys.executable, "-c", attempt, str(db_path)], env=env(), capture_output=True,
                                text=True, timeout=120)
        graph.ingest([Rollout(Problem("What is 1 plus 1?"), ("1 + 1 = 2.",), "2")])

    assert result.stdout.startswith("DatabaseLockedError")
    assert f"process {os.getpid()}" in result.stdout
    assert check_graph(db_path).ok


def test_reader_process_rejected_while_writer_holds(db_path):
    seed_graph(db_path)

    with Holder(db_path, "read-write") as holder:
        with pytest.raises(DatabaseLockedError, match=f"process {holder.pid}"):
            Database(db_path, read_only=True)
        with pytest.raises(DatabaseLockedError, match=f"process {holder.pid}"):
            query(db_path, "SELECT count(*) FROM nodes")


def test_writer_rejected_while_reader_process_holds(db_path):
    seed_graph(db_path)

    with Holder(db_path, "read-only") as holder:
        with pytest.raises(DatabaseLockedError, match=f"process {holder.pid}"):
            StepGraph.open(db_path)


def test_reader_processes_share_database(db_path):
    seed_graph(db_path)

    with Holder(db_path, "read-only"), Holder(db_path, "read-only"):
        rows = query(db_path, "SELECT count(*) AS n FROM rollouts").fetchall()

    assert rows == [(1,)]


def test_second_writer_in_same_process_rejected(db_path):
    with StepGraph.open(db_path, embedder="hashed"):
        with pytest.raises(DatabaseLockedError, match="already open for writing in this process"):
            StepGraph.open(db_path)
        with pytest.raises(DatabaseLockedError, match="already open in this process"):
            Database(db_path, read_only=True)

    with StepGraph.open(db_path):  # released on close
        pass


def planner_query(graph: StepGraph, text: str, rng: random.Random) -> list[tuple]:
    """Find stored steps like ``text`` and read their statistics, as a planner does before expanding."""
    ids, similarity = graph.index.query(graph.embed([text]), k=5)
    cursor = graph.db.cursor()
    try:
        found = [int(i) for i in ids[0]]
        if not found:
            return []
        rows = cursor.execute(
            "SELECT n.node_id, n.visits, n.value, count(e.child_id) AS children FROM nodes n "
            "LEFT JOIN edges e ON e.parent_id = n.node_id WHERE n.node_id IN (SELECT unnest(?)) GROUP BY ALL",
            [found],
        ).fetchall()
        assert {row[0] for row in rows} == set(found), "the index returned a node DuckDB does not have"
        assert all(row[1] >= 1 for row in rows)
        if rng.random() < 0.3:
            cursor.execute("SELECT problem_id, count(*), max(depth) FROM nodes GROUP BY ALL").fetchall()
        return rows
    finally:
        cursor.close()


@pytest.mark.slow
def test_planner_queries_while_ingesting(db_path):
    graph = StepGraph.open(db_path, embedder="hashed")
    seed = Problem("What is 3 plus 4?", "7")
    graph.ingest([Rollout(seed, ("add 3 and 4", "3 plus 4 is 7.", "#### 7"), "7", True)])
    stop = threading.Event()
    errors: list[BaseException] = []
    queries = [0]

    def read(worker: int) -> None:
        rng = random.Random(worker)
        try:
            with Planner(graph) as planner:  # one planner per thread, as its docstring requires
                while not stop.is_set():
                    a, b = rng.randint(0, 50), rng.randint(0, 50)
                    planner_query(graph, f"add {a} and {b}", rng)
                    result = planner.continuations(f"What is {a} plus {b}?", [f"add {a} and {b}"])
                    assert all(c.visits >= 1 for c in result.continuations)
                    planner.similar_problems(f"What is {a} plus {b}?", k=3)
                    queries[0] += 1
        except BaseException as error:  # reported by the main thread
            errors.append(error)
            stop.set()

    readers = [threading.Thread(target=read, args=(worker,)) for worker in range(4)]
    for thread in readers:
        thread.start()
    try:
        rng = random.Random(0)
        for batch in range(40):
            if stop.is_set():
                break
            rollouts = []
            for _ in range(20):
                a, b = rng.randint(0, 50), rng.randint(0, 50)
                problem = Problem(f"What is {a} plus {b}?", str(a + b))
                rollouts.append(Rollout(problem, (f"add {a} and {b}", f"{a} plus {b} is {a + b}.", f"#### {a + b}"),
                                        str(a + b), rng.random() < 0.8))
            graph.ingest(rollouts)  # grows the index past its capacity, so it resizes under the readers
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=120)
        graph.close()

    assert errors == []
    assert queries[0] > 0
    assert check_graph(db_path).ok
