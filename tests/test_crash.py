"""Crash safety: a writer killed with SIGKILL at random moments loses no committed rollout.

Each test starts a writer subprocess (``crash_writer.py``) on the same
database again and again and kills it at a random moment: sometimes while
it is still opening the graph or syncing the index, mostly while it writes,
checkpoints or saves the index. After each kill it checks the invariants,
first on the database as the crash left it, then after a writable open has
caught up or rebuilt the index.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.check import check_graph
from tater_graph.errors import DatabaseError
from tater_graph.store.database import wal_copy_path

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS_PER_MODE = 12


def writer_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else root
    return env


def run_and_kill(mode: str, db_path: Path, seed: int, rng: random.Random) -> tuple[int, bool]:
    """Start a writer, SIGKILL it at a random moment; return (rollouts it reported committed, was it ready)."""
    process = subprocess.Popen([sys.executable, str(WRITER), mode, str(db_path), str(seed)], env=writer_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = False
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0.2, 2.5))  # often lands while importing, opening or syncing the index
    else:
        ready = process.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 1.5))
    process.send_signal(signal.SIGKILL)
    out, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"writer exited on its own:\n{err}"
    committed = sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("committed "))
    return committed, ready or "ready" in out


def stored_rollouts(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM rollouts").fetchall()[0][0]
    except duckdb.CatalogException:
        return 0  # killed before the first migration committed
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ingest", "search"])
def test_killed_writer_leaves_sound_graph(tmp_path, mode):
    db_path = tmp_path / "crash.duckdb"
    rng = random.Random(f"crash-{mode}")
    reported = 0
    kills_while_writing = 0

    for kill in range(KILLS_PER_MODE):
        committed, ready = run_and_kill(mode, db_path, kill, rng)
        reported += committed
        kills_while_writing += ready
        if not db_path.exists():
            continue

        as_left = check_graph(db_path)
        assert [name for name in as_left.failed if name != "index-in-step"] == [], (kill, as_left)
        assert stored_rollouts(db_path) >= reported, f"kill {kill}: a reported commit was lost"

        with StepGraph.open(db_path) as graph:
            assert graph.index_status in ("loaded", "caught-up", "rebuilt", "empty")
        reopened = check_graph(db_path)
        assert reopened.ok, (kill, reopened)

    assert reported > 0
    assert kills_while_writing >= KILLS_PER_MODE // 2


WRITE_AND_DIE = """
import os, sys
from tater_graph import Problem, Rollout, StepGraph
graph = StepGraph.open(sys.argv[1])
graph.ingest([Rollout(Problem("What is 5 plus 5?", "10"), ("5 plus 5 is 10.", "#### 10"), "10", True)])
os._exit(0)  # no checkpoint: the commit lives only in the write-ahead log
"""


def write_and_die(tmp_path: Path) -> Path:
    """Return a graph whose last commit lives only in its write-ahead log."""
    db_path = tmp_path / "wal.duckdb"
    with StepGraph.open(db_path, embedder="hashed") as graph:
        graph.ingest([Rollout(Problem("What is 1 plus 1?", "2"), ("1 plus 1 is 2.",), "2", True)])
    subprocess.run([sys.executable, "-c", WRITE_AND_DIE, str(db_path)], env=writer_env(), check=True, timeout=120)
    return db_path


def test_unreplayable_wal_is_reported_and_kept(tmp_path):
    db_path = write_and_die(tmp_path)
    wal = db_path.with_name(db_path.name + ".wal")
    data = bytearray(wal.read_bytes())
    # Damage the step text itself: DuckDB checksums each log entry, so replay must fail.
    start = data.find(b"5 plus 5 is 10.")
    assert start > 0
    data[start:start + 4] = b"XXXX"
    wal.write_bytes(bytes(data))

    with pytest.raises(DatabaseError) as caught:
        StepGraph.open(db_path)

    message = str(caught.value)
    assert "cannot replay the write-ahead log" in message
    assert f"moving {wal} away" in message
    assert wal.read_bytes() == bytes(data)

    wal.rename(tmp_path / "aside.wal")  # the recovery the message describes
    with StepGraph.open(db_path) as graph:
        rollouts = graph.sql("SELECT count(*) FROM rollouts").fetchall()[0][0]
    assert rollouts == 1
    assert check_graph(db_path).ok


def test_wal_dropped_by_duckdb_is_kept(tmp_path):
    # DuckDB 2.0.1 ignores a log whose header is damaged, without an error.
    db_path = write_and_die(tmp_path)
    wal = db_path.with_name(db_path.name + ".wal")
    data = bytearray(wal.read_bytes())
    data[0] ^= 0xFF
    wal.write_bytes(bytes(data))

    with StepGraph.open(db_path) as graph:
        rollouts = graph.sql("SELECT count(*) FROM rollouts").fetchall()[0][0]

    assert rollouts in (1, 2)  # 1 while DuckDB drops the damaged log
    assert wal_copy_path(db_path).read_bytes() == bytes(data)
