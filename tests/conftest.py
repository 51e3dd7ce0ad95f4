"""Shared fixtures: real DuckDB files and hnswlib indexes in a temporary folder."""

from __future__ import annotations

import pytest

from tater_graph import Problem, Rollout, StepGraph


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "graph.duckdb"


@pytest.fixture
def graph(db_path):
    """A fresh step graph using the hashed embedder (fast, no model)."""
    with StepGraph.open(db_path, embedder="hashed") as opened:
        yield opened


@pytest.fixture
def problem():
    return Problem("Tom has 2 apples and buys 3 more. How many apples does he have?", "5", "test", "t-1")


def make_rollout(problem: Problem, steps, answer=None, correct=None, **extra) -> Rollout:
    return Rollout(problem, tuple(steps), answer, correct, **extra)
