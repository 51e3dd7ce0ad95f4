"""Ingest formats, checked against independent computations on real data."""

import gzip
import json
from collections import Counter

import pytest

from tater_graph.datasets import data_path
from tater_graph.errors import IngestError
from tater_graph.ingest import read_rollouts
from tater_graph.steps import normalize_step
from tater_graph.store.writer import question_hash


@pytest.fixture(scope="module")
def processbench_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pb") / "gsm8k.json"
    path.write_bytes(gzip.decompress(data_path("processbench_gsm8k.json.gz").read_bytes()))
    return path


def expected_counts(records):
    """Count states and transitions without the store: a state is (problem, multiset of normalized steps)."""
    states, edges = set(), set()
    for record in records:
        problem = question_hash(record["problem"])
        previous = (problem, frozenset())
        states.add(previous)
        taken = Counter()
        for step in record["steps"]:
            taken[normalize_step(step)] += 1
            state = (problem, frozenset(taken.items()))
            states.add(state)
            edges.add((previous, state))
            previous = state
    return len(states), len(edges)


def test_processbench_node_and_edge_counts(graph, processbench_file):
    records = json.loads(processbench_file.read_text())
    rollouts = read_rollouts(processbench_file, "processbench")
    result = graph.ingest(rollouts)
    nodes, edges = expected_counts(records)
    assert result.rollouts == 400
    assert result.problems == len({question_hash(r["problem"]) for r in records})
    assert graph.sql("SELECT count(*) FROM nodes").fetchall()[0][0] == nodes
    assert graph.sql("SELECT count(*) FROM edges").fetchall()[0][0] == edges
    correct = sum(r["final_answer_correct"] for r in records)
    assert graph.sql("SELECT count(*) FROM rollouts WHERE is_correct").fetchall()[0][0] == correct
    # Every root is visited by exactly the rollouts of its problem.
    assert graph.sql("SELECT sum(visits) FROM nodes WHERE depth = 0").fetchall()[0][0] == 400


def test_processbench_labels_mark_first_wrong_step(processbench_file):
    records = json.loads(processbench_file.read_text())
    rollouts = read_rollouts(processbench_file, "processbench")
    for record, rollout in zip(records, rollouts):
        label = record["label"]
        if label == -1:
            assert set(rollout.step_labels) == {1}
        else:
            assert rollout.step_labels[label] == -1
            assert set(rollout.step_labels[:label]) <= {1}


def test_prm800k_stepwise_ingest(graph, tmp_path):
    path = tmp_path / "prm.jsonl.gz"
    path.write_bytes(data_path("prm800k_phase1_test_stepwise.jsonl.gz").read_bytes())
    rollouts = read_rollouts(path, "prm800k-stepwise")
    assert len(rollouts) == 5449
    graph.ingest(rollouts[:500])
    problems = graph.sql("SELECT count(*) FROM problems").fetchall()[0][0]
    assert 1 <= problems <= 101
    labelled = graph.sql("SELECT count(*) FROM rollout_steps WHERE label IS NOT NULL").fetchall()[0][0]
    assert labelled == sum(1 for r in rollouts[:500] if r.step_labels[-1] is not None)


def write_jsonl(path, records):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def test_jsonl_grades_against_gold(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [
        {"question": "2+3?", "steps": ["2+3 = 5", "#### 5"], "gold_answer": "5.0"},
        {"question": "2+3?", "text": "2+3 = 6\n\n#### 6", "gold_answer": "5"},
        {"question": "2+3?", "steps": ["guess 5"], "correct": False},
    ])
    rollouts = read_rollouts(path, "jsonl")
    assert [r.is_correct for r in rollouts] == [True, False, False]
    assert [r.answer for r in rollouts] == ["5", "6", "5"]
    assert rollouts[1].steps == ("2+3 = 6", "#### 6")


@pytest.mark.parametrize(
    "line, field, message",
    [
        ('{"steps": ["a"]}', "question", "missing required field"),
        ('{"question": "", "steps": ["a"]}', "question", "must not be empty"),
        ('{"question": "q"}', "steps", "give 'steps'"),
        ('{"question": "q", "steps": "a"}', "steps", "expected a list"),
        ('{"question": "q", "steps": []}', "steps", "at least one step"),
        ('{"question": "q", "steps": ["a", ""]}', "steps[1]", "step 1 is empty"),
        ('{"question": "q", "steps": ["a", 3]}', "steps[1]", "expected a string"),
        ('{"question": "q", "steps": ["a\\u0000b"]}', "steps[0]", "NUL"),
        ('{"question": "q", "steps": ["a"], "correct": "yes"}', "correct", "true, false or null"),
        ('{"question": "q", "steps": ["a"], "labels": [1, 2]}', "labels", "2 labels for 1 steps"),
        ('{"question": "q", "steps": ["a"], "score": "high"}', "score", "expected a number"),
        ('[1, 2]', None, "expected a JSON object"),
        ('{"question": "q", "steps": ["a"]', None, "invalid JSON"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(tmp_path, line, field, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"question": "fine", "steps": ["ok"]}, line])
    with pytest.raises(IngestError, match=message) as caught:
        read_rollouts(path, "jsonl")
    assert caught.value.path == str(path)
    assert caught.value.line == 2
    assert caught.value.field == field
    assert f"{path}, line 2" in str(caught.value)


def test_non_utf8_file_is_rejected_with_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "ok", "steps": ["a"]}\n{"question": "caf\xe9", "steps": ["a"]}\n')
    with pytest.raises(IngestError, match="invalid UTF-8") as caught:
        read_rollouts(path, "jsonl")
    assert caught.value.line == 2


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(IngestError, match="file not found"):
        read_rollouts(tmp_path / "nope.jsonl", "jsonl")
    with pytest.raises(IngestError, match="unknown format 'csv'"):
        read_rollouts(tmp_path / "nope.jsonl", "csv")


def test_processbench_bad_label(tmp_path):
    path = tmp_path / "pb.json"
    path.write_text(json.dumps([{"id": "gsm8k-1", "problem": "q", "steps": ["a"], "label": 5,
                                 "final_answer_correct": True}]))
    with pytest.raises(IngestError, match="label"):
        read_rollouts(path, "processbench")


def test_cli_ingest_failure_writes_nothing(tmp_path):
    from click.testing import CliRunner

    from tater_graph.cli import cli

    db = tmp_path / "g.duckdb"
    good = write_jsonl(tmp_path / "good.jsonl", [{"question": "q", "steps": ["a", "b"]}])
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "q", "steps": ["c"]}, '{"question": 5, "steps": ["x"]}'])
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "ingest", str(good), "--embedder", "hashed"]).exit_code == 0
    result = runner.invoke(cli, ["--db", str(db), "ingest", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, IngestError)
    assert "line 2" in str(result.exception)
    counted = runner.invoke(cli, ["--db", str(db), "sql", "SELECT count(*) AS n FROM rollouts", "--json"])
    assert json.loads(counted.output) == [{"n": 1}]
