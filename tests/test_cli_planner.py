"""The continue and experience commands on a real database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tater_graph import Problem, StepGraph
from tater_graph.cli import cli

from conftest import make_rollout

APPLES = Problem("Tom has 2 apples and buys 3 more. How many apples does he have?", "5")
START = "He starts with 2 apples."


@pytest.fixture
def bank(db_path):
    with StepGraph.open(db_path, embedder="hashed") as graph:
        graph.ingest([make_rollout(APPLES, [START, "2 + 3 = 5", "#### 5"], "5", True)] * 3
                     + [make_rollout(APPLES, [START, "2 + 3 = 6", "#### 6"], "6", False)] * 4)
    return db_path


def run(db_path, *args):
    return CliRunner().invoke(cli, ["--db", str(db_path), *args])


def test_continue_json_lists_continuations_and_dead_ends(bank):
    result = run(bank, "continue", "--problem", "1", "--step", START, "--json")

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["kind"], r["step"]) for r in rows] == [("continuation", "2 + 3 = 5"), ("dead end", "2 + 3 = 6")]
    assert rows[0]["value"] == pytest.approx(0.8)
    assert rows[0]["source_rollouts"] == [1, 2, 3]
    assert rows[0]["similarity"] == 1.0
    assert "exact match" in result.stderr


def test_continue_by_question_text_approximate(bank):
    result = run(bank, "continue", "--question", APPLES.question, "--step", "He starts with 2 apple", "--json")

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["step"] == "2 + 3 = 5"
    assert 0.8 <= rows[0]["similarity"] < 1.0
    assert "approximate" in result.stderr


def test_continue_table_shows_value_and_std(bank):
    result = run(bank, "continue", "--problem", "1")

    assert result.exit_code == 0, result.output
    assert "0.444 ±" in result.stdout  # Beta(4, 5): 3 of 7 rollouts through the step were right
    assert "0.157" in result.stdout


def test_continue_needs_one_problem_option(bank):
    neither = run(bank, "continue")
    both = run(bank, "continue", "--problem", "1", "--question", "x")

    assert neither.exit_code == 2
    assert both.exit_code == 2
    assert "exactly one of --problem ID or --question TEXT" in neither.output


def test_experience_distill_then_list(bank):
    distilled = run(bank, "experience", "distill", "--json")
    listed = run(bank, "experience", "list", "--kind", "positive", "--json")

    assert distilled.exit_code == 0, distilled.output
    assert json.loads(distilled.stdout) == [
        {"kind": "positive", "count": 1}, {"kind": "negative", "count": 1}, {"kind": "deleted", "count": 0}]
    assert listed.exit_code == 0, listed.output
    assert [(r["content"], r["source_rollouts"]) for r in json.loads(listed.stdout)] == [("2 + 3 = 5", [1, 2, 3])]
