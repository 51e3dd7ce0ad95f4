"""Resource bounds: repeated searches do not grow memory when they add no new data.

The full soak (1,000 searches that keep adding nodes) is ``tools/soak.py``;
its numbers are in docs/reliability.md. This shorter version repeats one
search, so the graph gains only rollout rows and any RSS growth past the
warm-up is a leak, not cached data.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tater_graph import Problem, StepGraph
from tater_graph.check import check_graph
from tater_graph.model.fake import FakeModel
from tater_graph.search import SearchConfig, best_of_n

WARMUP = 40
SEARCHES = 120
# 16 MiB over 120 searches is about 136 KiB a search; the measured growth on
# the project's 2-core machine was under 5 MiB, which is allocator noise.
MAX_GROWTH_MIB = 16


def load_soak():
    path = Path(__file__).resolve().parents[1] / "tools" / "soak.py"
    spec = importlib.util.spec_from_file_location("soak", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_repeated_search_keeps_rss_bounded(db_path):
    soak = load_soak()
    problem = Problem("Steady problem: what is 2 plus 2?", "4")
    config = SearchConfig(n=4, shots=0, seed=1)

    with StepGraph.open(db_path, embedder="hashed") as graph:
        for _ in range(WARMUP):
            best_of_n(graph, FakeModel(soak.solution), [problem], config)
        baseline = soak.rss_mib()
        for _ in range(SEARCHES):
            best_of_n(graph, FakeModel(soak.solution), [problem], config)
        growth = soak.rss_mib() - baseline
        runs = graph.sql("SELECT count(*) FROM runs WHERE status = 'finished'").fetchall()[0][0]

    assert runs == WARMUP + SEARCHES
    assert growth < MAX_GROWTH_MIB, f"RSS grew {growth:.1f} MiB over {SEARCHES} searches"
    assert check_graph(db_path).ok
