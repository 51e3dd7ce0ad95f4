"""Bad input: every malformed record is an IngestError with file, line and field, and changes nothing.

Property-based tests (hypothesis) mutate valid records of each ingest format,
cut lines short, and mix in bytes that are not UTF-8; targeted tests cover
huge and adversarial records. SQL text and CLI arguments get the same
treatment: a QueryError or a usage error, never a crash.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.check import check_graph
from tater_graph.errors import IngestError, QueryError
from tater_graph.ingest import MAX_STEP_CHARS, MAX_STEPS, read_rollouts
from tater_graph.sql import check_query, query

from cli_helpers import run_main

SHARED = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])

VALID = {
    "jsonl": {"question": "What is 2 plus 3?", "steps": ["2 plus 3 is 5.", "#### 5"], "answer": "5",
              "gold_answer": "5", "correct": True, "generator": "m", "dataset": "d", "problem_id": "p-1",
              "labels": [1, 1], "score": 0.5},
    "prm800k-stepwise": {"instruction": "What is 2 plus 3?", "responses": ["2 plus 3 is 5."],
                         "next_response": "# Answer\n\n5", "rating": 1, "answer": "5"},
    "processbench": {"id": "gsm8k-1", "generator": "m", "problem": "What is 2 plus 3?",
                     "steps": ["2 plus 3 is 5.", "So 5."], "final_answer_correct": True, "label": -1},
}

# Values no field accepts as valid in every position; each replaces one field of a valid record.
BAD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.just(""), st.just("   "), st.just("a\x00b"),
    st.just("\ud800 lone surrogate"), st.just([]), st.just([""]), st.just(["ok", 3]), st.just({"a": 1}),
    st.just([[["deep"]]]), st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3),
)


def write_records(path: Path, fmt: str, records: list) -> None:
    if fmt == "processbench":
        path.write_text(json.dumps(records), encoding="utf-8")
    else:
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")


def assert_located(error: IngestError, path: Path) -> None:
    assert error.path == str(path)
    assert error.line is not None, str(error)
    assert str(path) in str(error)


def file_digest(*paths: Path) -> list[str | None]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None for p in paths]


@pytest.fixture
def bank(tmp_path):
    """A graph with some rollouts, closed; returns its path."""
    path = tmp_path / "bank.duckdb"
    with StepGraph.open(path, embedder="hashed") as graph:
        graph.ingest([Rollout(Problem("What is 1 plus 1?", "2"), ("1 plus 1 is 2.", "#### 2"), "2", True)])
    return path


@pytest.mark.parametrize("fmt", list(VALID))
@SHARED
@given(data=st.data())
def test_mutated_record_fails_with_location(tmp_path, fmt, data):
    record = dict(VALID[fmt])
    field = data.draw(st.sampled_from(sorted(record)), label="field")
    record[field] = data.draw(BAD_VALUES, label="value")
    position = data.draw(st.integers(min_value=0, max_value=2), label="position")
    records = [dict(VALID[fmt]) for _ in range(2)]
    records.insert(position, record)
    path = tmp_path / f"mutated.{fmt}"
    write_records(path, fmt, records)

    try:
        rollouts = read_rollouts(path, fmt)
    except IngestError as error:
        assert_located(error, path)
        assert error.line == position + 1
        # Usually the mutated field; a changed step list can also make the labels disagree with it.
        assert error.field is not None and error.field.split("[")[0] in record, str(error)
        return
    assert len(rollouts) == 3  # the value happened to be valid for that field


@pytest.mark.parametrize("fmt", ["jsonl", "prm800k-stepwise"])
@SHARED
@given(data=st.data())
def test_damaged_jsonl_fails_with_line(tmp_path, fmt, data):
    lines = [json.dumps(VALID[fmt]) for _ in range(3)]
    target = data.draw(st.integers(min_value=0, max_value=2), label="line")
    kind = data.draw(st.sampled_from(["truncated", "bytes", "nested", "scalar"]), label="kind")
    encoded = [line.encode() for line in lines]
    if kind == "truncated":
        encoded[target] = encoded[target][: data.draw(st.integers(1, len(encoded[target]) - 1))]
    elif kind == "bytes":
        encoded[target] = data.draw(st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b))
    elif kind == "nested":
        depth = data.draw(st.integers(min_value=1, max_value=200_000))
        encoded[target] = b"[" * depth + b"]" * depth
    else:
        encoded[target] = json.dumps(data.draw(st.one_of(st.integers(), st.text(), st.none()))).encode()
    assume(encoded[target].strip())
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(b"\n".join(encoded) + b"\n")

    try:
        rollouts = read_rollouts(path, fmt)
    except IngestError as error:
        if "gzip" in str(error):  # the bytes began with the gzip magic number: a whole-file error
            assert error.path == str(path)
            return
        assert_located(error, path)
        assert error.line == target + 1, str(error)
        return
    assert len(rollouts) == 3  # the damage left a valid record (a truncated line can stay valid JSON)


@settings(SHARED, max_examples=25)  # each example creates a database
@given(records=st.lists(st.fixed_dictionaries({
    "question": st.text(min_size=1, max_size=40),
    "steps": st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=6),
    "correct": st.one_of(st.none(), st.booleans()),
}), min_size=1, max_size=4))
def test_parsed_records_ingest_or_fail_cleanly(tmp_path_factory, records):
    # Any record the parser accepts must store without a crash, whatever its characters.
    folder = tmp_path_factory.mktemp("any")
    path = folder / "any.jsonl"
    write_records(path, "jsonl", records)
    try:
        rollouts = read_rollouts(path, "jsonl")
    except IngestError as error:
        assert_located(error, path)
        return
    db_path = folder / "any.duckdb"
    with StepGraph.open(db_path, embedder="hashed") as graph:
        graph.ingest(rollouts)
    assert check_graph(db_path).ok


ADVERSARIAL = {
    "step over 1 MB": ({"question": "q?", "steps": ["x" * (MAX_STEP_CHARS + 1)]}, "steps[0]"),
    "question over 1 MB": ({"question": "q" * (MAX_STEP_CHARS + 1), "steps": ["s"]}, "question"),
    "too many steps": ({"question": "q?", "steps": ["s"] * (MAX_STEPS + 1)}, "steps"),
    "text with too many steps": ({"question": "q?", "text": "\n\n".join(["s"] * (MAX_STEPS + 1))}, "text"),
    "empty step list": ({"question": "q?", "steps": []}, "steps"),
    "blank step": ({"question": "q?", "steps": ["ok", "  "]}, "steps[1]"),
    "NUL in step": ({"question": "q?", "steps": ["a\x00b"]}, "steps[0]"),
    "NUL in question": ({"question": "q\x00?", "steps": ["s"]}, "question"),
    "lone surrogate": ({"question": "q\ud800?", "steps": ["s"]}, "question"),
    "nested step": ({"question": "q?", "steps": [[[["s"]]]]}, "steps[0]"),
    "label overflow": ({"question": "q?", "steps": ["s"], "labels": [2**40]}, "labels"),
    "infinite score": ({"question": "q?", "steps": ["s"], "score": float("inf")}, "score"),
    "huge score": ({"question": "q?", "steps": ["s"], "score": 10**400}, "score"),
    "no steps or text": ({"question": "q?"}, "steps"),
}


@pytest.mark.parametrize("case", list(ADVERSARIAL))
def test_adversarial_record_rejected_and_bank_unchanged(bank, tmp_path, case):
    record, field = ADVERSARIAL[case]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"question": "fine?", "steps": ["fine"]}) + "\n" + json.dumps(record) + "\n")
    files = [bank, bank.with_name(bank.name + ".hnsw"), bank.with_name(bank.name + ".wal")]
    before = file_digest(*files)

    result = run_main(["--db", str(bank), "ingest", str(path), "--embedder", "hashed"])

    assert result.exit_code == 1
    assert f"{path}, line 2, field {field!r}" in result.stderr
    assert "Traceback" not in result.output
    assert file_digest(*files) == before


@pytest.mark.parametrize(("content", "expected"), [
    (b'{"question": "q?", "steps": ["s"]}\n\xff\xfe\n', "line 2"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", "line 1"),
    (b'{"question": "q?", "steps": ["s"], "score": ' + b"9" * 5000 + b"}\n", "line 1"),
    (gzip.compress(b'{"question": "q?", "steps": ["s"]}\n')[:-6], "corrupt gzip"),
])
def test_unreadable_file_rejected(tmp_path, content, expected):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)

    with pytest.raises(IngestError) as caught:
        read_rollouts(path, "jsonl")

    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_largest_allowed_step_ingests(db_path, tmp_path):
    path = tmp_path / "big.jsonl"
    step = ("word " * (MAX_STEP_CHARS // 5))[:MAX_STEP_CHARS]
    path.write_text(json.dumps({"question": "q?", "steps": [step, "#### 1"]}) + "\n")

    with StepGraph.open(db_path, embedder="hashed") as graph:
        graph.ingest(read_rollouts(path, "jsonl"))
        stored = graph.sql("SELECT max(length(step_text)) FROM nodes").fetchall()[0][0]

    assert stored == MAX_STEP_CHARS
    assert check_graph(db_path).ok


@pytest.mark.slow
def test_most_steps_allowed_ingests(db_path, tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"question": "q?", "steps": [f"step {i}" for i in range(MAX_STEPS)]}) + "\n")

    with StepGraph.open(db_path, embedder="hashed") as graph:
        graph.ingest(read_rollouts(path, "jsonl"))
        depth = graph.sql("SELECT max(depth) FROM nodes").fetchall()[0][0]

    assert depth == MAX_STEPS
    assert check_graph(db_path).ok


def test_invalid_rollout_object_changes_nothing(bank):
    good = Rollout(Problem("What is 4 plus 4?"), ("4 plus 4 is 8.",), "8")
    bad = Rollout(Problem("What is 5 plus 5?"), ("5 plus 5 is 10.", "bad\x00step"), "10")
    with StepGraph.open(bank) as graph:
        before = {t: graph.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                  for t in ("problems", "rollouts", "nodes", "edges", "rollout_steps", "node_vectors")}
        with pytest.raises(IngestError, match="line 2, field 'steps'"):
            graph.ingest([good, bad])
        after = {t: graph.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in before}

    assert after == before


# ---- SQL -------------------------------------------------------------------

SQL_PIECES = st.sampled_from([
    "SELECT", "*", "FROM", "nodes", "edges", "WHERE", "1", "=", "(", ")", ",", "'", '"', ";", "--", "/*",
    "count(*)", "GROUP BY", "ALL", "UNION", "DELETE", "DROP TABLE nodes", "INSERT INTO", "read_csv('/etc/passwd')",
    "ATTACH", "COPY", "PRAGMA", "WITH x AS", "\x00", "\ud800", "🙂", "$$", "[", "::", "NULL", "1e999",
    "9" * 30, "LIMIT", "-1", "ORDER BY", "node_id", "missing_table", "SET", "INSTALL httpfs",
])


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=60), st.lists(SQL_PIECES, max_size=12).map(" ".join)))
def test_check_query_raises_query_error_only(text):
    try:
        checked = check_query(text)
    except QueryError as error:
        assert str(error)
        return
    assert isinstance(checked.sql, str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(SQL_PIECES, min_size=1, max_size=10).map(" ".join))
def test_query_raises_query_error_only(bank, text):
    before = file_digest(bank)
    try:
        rows = query(bank, text).fetchall()
    except QueryError as error:
        assert str(error)
    else:
        assert isinstance(rows, list)
    assert file_digest(bank) == before


@pytest.mark.parametrize("text", [
    "DROP TABLE nodes", "SELECT 1; DROP TABLE nodes", "SELECT * FROM read_csv('/etc/passwd')",
    "COPY nodes TO '/tmp/x.csv'", "ATTACH '/tmp/other.duckdb'", "INSTALL httpfs", "SET threads = 1",
    "SELECT * FROM missing_table", "SELECT " + "(" * 3000 + "1" + ")" * 3000,
])
def test_harmful_query_rejected(bank, text):
    before = file_digest(bank)

    with pytest.raises(QueryError):
        query(bank, text).fetchall()

    assert file_digest(bank) == before


# ---- CLI arguments ---------------------------------------------------------

COMMANDS = st.sampled_from([["sql"], ["stats"], ["check"], ["export"], ["migrate", "--list"], ["ingest"],
                            ["search", "--limit", "0"], ["search", "--dataset", "nope"], ["nosuch"], []])
ARGUMENTS = st.lists(st.one_of(
    st.sampled_from(["--json", "--jsonl", "--problem", "--format", "-o", "--dialect", "--limit", "--n", "--embedder",
                     "--answer-format", "--list", "--repair-index", "--debug", "-v", "--", "-"]),
    st.text(alphabet=string.printable, max_size=12), st.integers(-5, 5).map(str),
    st.just("SELECT count(*) FROM nodes"), st.just("\udcff"),
), max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=COMMANDS, arguments=ARGUMENTS)
def test_cli_arguments_never_crash(bank, command, arguments):
    assume("--debug" not in arguments)  # --debug shows tracebacks on purpose
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):  # export -o writes relative paths
        result = run_main(["--db", str(bank), *command, *arguments])  # any other exception fails the test

    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code != 0:
        assert "Error" in result.output or "Usage" in result.output, result.output
    assert "Traceback" not in result.output
