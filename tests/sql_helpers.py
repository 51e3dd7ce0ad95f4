"""Helpers shared by the SQL tests: the test graph and the titled fixture files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tater_graph import Problem, Rollout, StepGraph

FIXTURES = Path(__file__).parent / "fixtures" / "sql"
REPO = Path(__file__).resolve().parents[1]
_CASE_START = re.compile(r"^(?=-- title:)", re.MULTILINE)


@dataclass(frozen=True)
class SqlCase:
    """One titled case of a fixture file."""

    title: str
    sql: str
    error: str | None = None
    rows: int | None = None
    duckdb_layer_runs: bool = False

    @property
    def error_class(self) -> str:
        return self.error.split(":", 1)[0].strip()

    @property
    def error_message(self) -> str:
        return self.error.split(":", 1)[1].strip()


def read_cases(name: str) -> list[SqlCase]:
    """Parse ``tests/fixtures/sql/NAME``: cases start at ``-- title:`` lines, see the file header."""
    blocks = _CASE_START.split((FIXTURES / name).read_text(encoding="utf-8"))[1:]
    cases = []
    for block in blocks:
        lines = block.splitlines()
        fields = {"title": lines[0].removeprefix("-- title:").strip()}
        body = lines[1:]
        while body and re.match(r"^-- (error|rows|duckdb layer):", body[0]):
            key, value = body.pop(0)[3:].split(":", 1)
            fields[key] = value.strip()
        cases.append(SqlCase(
            title=fields["title"],
            sql="\n".join(body).strip("\n").rstrip() if any(x.strip() for x in body) else "",
            error=fields.get("error"),
            rows=int(fields["rows"]) if "rows" in fields else None,
            duckdb_layer_runs="duckdb layer" in fields,
        ))
    return cases


def build_small_graph(path: Path) -> Path:
    """Write a 9-node graph of one problem: two orders of the same steps and one wrong branch."""
    problem = Problem("Tom has 2 apples and buys 3 more. How many apples does he have?", "5", "test", "t-1")
    rollouts = [
        Rollout(problem, ("He has 2 apples.", "He buys 3 more, so 2 + 3 = 5.", "The answer is 5."), "5", True),
        Rollout(problem, ("He has 2 apples.", "He buys 3 more, so 2 + 3 = 6.", "The answer is 6."), "6", False),
        Rollout(problem, ("He buys 3 more apples.", "He has 2 apples.", "The answer is 5."), "5", True),
    ]
    with StepGraph.open(path, embedder="hashed") as graph:
        graph.ingest(rollouts)
    return path
