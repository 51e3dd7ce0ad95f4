"""Read external rollouts into :class:`Rollout` records, validating every field.

Formats:

``jsonl``
    One JSON object per line (blank lines skipped)::

        {"question": "...",            # required, non-empty string
         "steps": ["...", "..."],      # required unless "text" is given: non-empty strings
         "text": "...",                # split into steps when "steps" is absent
         "answer": "18",               # optional; extracted from the steps when absent
         "gold_answer": "18",          # optional; grades the rollout when "correct" is absent
         "correct": true,              # optional boolean
         "generator": "model name",    # optional
         "dataset": "gsm8k",           # optional, default "jsonl"
         "problem_id": "gsm8k-7",      # optional id of the problem in its dataset
         "labels": [1, 1, -1],         # optional per-step labels (integers or null)
         "score": 0.7}                 # optional rollout score

``processbench``
    A JSON array as published by ProcessBench (``id, generator, problem,
    steps, final_answer_correct, label``). ``label`` is the index of the first
    wrong step (-1: all right); steps before it are labelled 1, that step -1.

``prm800k-stepwise``
    PRM800K stepwise JSONL: each line is a prefix (``responses``) plus one
    rated candidate step (``next_response``); each line becomes a partial
    rollout whose last step carries the human rating as its label, and whose
    score is that rating. Correctness is unknown (None).

Every error names the file, the line (JSONL) or record number (JSON arrays),
and the field. Parsing finishes before anything is written, so a bad record
anywhere means nothing is ingested.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tater_graph.answers import answers_match, extract_answer
from tater_graph.errors import IngestError
from tater_graph.records import Problem, Rollout
from tater_graph.steps import SplitConfig, split_steps

FORMATS = ("jsonl", "processbench", "prm800k-stepwise")
MAX_STEP_CHARS = 1_000_000  # also the limit of every other text field
MAX_STEPS = 10_000
_INT32 = range(-(2**31), 2**31)  # stored labels are INTEGER


def read_rollouts(path: str | Path, fmt: str, *, answer_format: str = "gsm8k",
                  split: SplitConfig = SplitConfig()) -> list[Rollout]:
    """Parse every record of ``path`` in format ``fmt``; raise on the first bad one."""
    path = Path(path)
    if fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}", path=str(path))
    if not path.is_file():
        raise IngestError("file not found: check the path", path=str(path))
    if fmt == "jsonl":
        return [_from_jsonl(rec, str(path), line, answer_format, split) for line, rec in _jsonl_records(path)]
    if fmt == "processbench":
        return [_from_processbench(rec, str(path), n, answer_format) for n, rec in _json_array(path)]
    return [_from_prm800k(rec, str(path), line) for line, rec in _jsonl_records(path)]


def _open_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise IngestError(f"cannot read the file ({error.strerror or error})", path=str(path)) from error
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise IngestError(f"corrupt gzip data ({error})", path=str(path)) from error
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise IngestError(f"invalid UTF-8 at byte {error.start}: re-encode the file as UTF-8",
                          path=str(path), line=line) from error


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # Only "\n" ends a line: str.splitlines() also splits on U+2028 and other separators
    # that JSON strings may contain raw. Blank means JSON whitespace only.
    for line_number, line in enumerate(_open_text(path).split("\n"), start=1):
        if not line.strip(" \t\r"):
            continue
        record = _parse_json(line, str(path), line_number)
        if not isinstance(record, dict):
            raise IngestError(f"expected a JSON object, got {type(record).__name__}", path=str(path), line=line_number)
        yield line_number, record


def _json_array(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    data = _parse_json(_open_text(path), str(path), None)
    if not isinstance(data, list):
        raise IngestError(f"expected a JSON array of records, got {type(data).__name__}", path=str(path))
    for number, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise IngestError(f"record {number} is a {type(record).__name__}, expected an object",
                              path=str(path), line=number)
        yield number, record


def _parse_json(text: str, path: str, line: int | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = line if line is not None else error.lineno
        raise IngestError(f"invalid JSON: {error.msg} at column {error.colno}", path=path, line=where) from error
    except ValueError as error:  # integers over Python's digit limit
        raise IngestError(f"invalid JSON: {error}", path=path, line=line) from error
    except RecursionError as error:
        raise IngestError("JSON nested too deeply", path=path, line=line) from error


def _text(record: dict[str, Any], key: str, path: str, line: int, *, required: bool) -> str | None:
    value = record.get(key)
    if value is None:
        if required:
            raise IngestError("missing required field", path=path, line=line, field=key)
        return None
    if not isinstance(value, str):
        raise IngestError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=key)
    _check_chars(value, path, line, key)
    if required and not value.strip():
        raise IngestError("must not be empty", path=path, line=line, field=key)
    return value


def _check_chars(value: str, path: str, line: int, key: str, subject: str = "") -> None:
    """Reject text that cannot be stored: over the size limit, with NUL characters or lone surrogates."""
    if len(value) > MAX_STEP_CHARS:
        raise IngestError(f"{subject}has {len(value)} characters, more than the limit of {MAX_STEP_CHARS}",
                          path=path, line=line, field=key)
    if "\x00" in value:
        raise IngestError(f"{subject}contains a NUL character", path=path, line=line, field=key)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise IngestError(f"{subject}contains an unpaired surrogate (\\u{ord(value[error.start]):04x}) at "
                          f"character {error.start}, which is not valid Unicode", path=path, line=line,
                          field=key) from error


def _steps(value: Any, path: str, line: int, key: str = "steps") -> tuple[str, ...]:
    if not isinstance(value, list):
        raise IngestError(f"expected a list of strings, got {type(value).__name__}", path=path, line=line, field=key)
    if not value:
        raise IngestError("must hold at least one step", path=path, line=line, field=key)
    if len(value) > MAX_STEPS:
        raise IngestError(f"{len(value)} steps, more than the limit of {MAX_STEPS}", path=path, line=line, field=key)
    for position, step in enumerate(value):
        if not isinstance(step, str):
            raise IngestError(f"step {position} is a {type(step).__name__}, expected a string",
                              path=path, line=line, field=f"{key}[{position}]")
        if not step.strip():
            raise IngestError(f"step {position} is empty", path=path, line=line, field=f"{key}[{position}]")
        _check_chars(step, path, line, f"{key}[{position}]", subject=f"step {position} ")
    return tuple(value)


def _bool(record: dict[str, Any], key: str, path: str, line: int) -> bool | None:
    value = record.get(key)
    if value is not None and not isinstance(value, bool):
        raise IngestError(f"expected true, false or null, got {_preview(value)}", path=path, line=line, field=key)
    return value


def _from_jsonl(record: dict[str, Any], path: str, line: int, answer_format: str, split: SplitConfig) -> Rollout:
    question = _text(record, "question", path, line, required=True)
    if "steps" in record:
        steps = _steps(record["steps"], path, line)
    elif "text" in record:
        text = _text(record, "text", path, line, required=True)
        steps = tuple(split_steps(text, split))
        if not steps:
            raise IngestError("text contains no steps after splitting", path=path, line=line, field="text")
        if len(steps) > min(MAX_STEPS, split.max_steps):
            raise IngestError(f"text splits into {len(steps)} steps, more than the limit of "
                              f"{min(MAX_STEPS, split.max_steps)}", path=path, line=line, field="text")
    else:
        raise IngestError("missing required field: give 'steps' (a list) or 'text'", path=path, line=line,
                          field="steps")
    gold = _text(record, "gold_answer", path, line, required=False)
    answer = _text(record, "answer", path, line, required=False)
    if answer is None:
        answer = extract_answer("\n".join(steps), answer_format)
    correct = _bool(record, "correct", path, line)
    if correct is None and gold is not None:
        correct = answers_match(answer, gold)

    labels = record.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not all(v is None or (isinstance(v, int) and not isinstance(v, bool)
                                                                 and v in _INT32) for v in labels):
            raise IngestError("expected a list of 32-bit integers or nulls", path=path, line=line, field="labels")
        if len(labels) != len(steps):
            raise IngestError(f"{len(labels)} labels for {len(steps)} steps", path=path, line=line, field="labels")
        labels = tuple(labels)

    score = _number(record.get("score"), path, line, "score")

    problem = Problem(question, gold, _text(record, "dataset", path, line, required=False) or "jsonl",
                      _string_id(record.get("problem_id"), path, line))
    return Rollout(problem, steps, answer, correct, source="jsonl",
                   generator=_text(record, "generator", path, line, required=False),
                   text=None, score=score, step_labels=labels)


def _number(value: Any, path: str, line: int, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise IngestError(f"expected a number, got {_preview(value)}", path=path, line=line, field=key)
    try:
        number = float(value)
    except OverflowError as error:
        raise IngestError("number too large for a double", path=path, line=line, field=key) from error
    if not math.isfinite(number):
        raise IngestError(f"expected a finite number, got {number}", path=path, line=line, field=key)
    return number


def _preview(value: Any, limit: int = 60) -> str:
    """Return ``repr(value)`` cut to ``limit`` characters, for messages about huge or nested values."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _string_id(value: Any, path: str, line: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise IngestError(f"expected a string or integer id, got {_preview(value)}", path=path, line=line,
                          field="problem_id")
    if isinstance(value, str):
        _check_chars(value, path, line, "problem_id")
    return str(value)


def _from_processbench(record: dict[str, Any], path: str, number: int, answer_format: str) -> Rollout:
    question = _text(record, "problem", path, number, required=True)
    steps = _steps(record.get("steps"), path, number)
    correct = _bool(record, "final_answer_correct", path, number)
    label = record.get("label")
    if isinstance(label, bool) or not isinstance(label, int) or not -1 <= label < len(steps):
        raise IngestError(f"expected -1 or a step index below {len(steps)}, got {_preview(label)}",
                          path=path, line=number, field="label")
    labels = tuple(_processbench_label(position, label) for position in range(len(steps)))
    record_id = _text(record, "id", path, number, required=False)
    dataset = record_id.rsplit("-", 1)[0] if record_id and "-" in record_id else "processbench"
    fmt = "math" if dataset == "math" or "\\boxed" in steps[-1] else answer_format
    answer = extract_answer("\n".join(steps), fmt)
    return Rollout(Problem(question, None, f"processbench-{dataset}", record_id), steps, answer, correct,
                   source="processbench", generator=_text(record, "generator", path, number, required=False),
                   step_labels=labels)


def _from_prm800k(record: dict[str, Any], path: str, line: int) -> Rollout:
    question = _text(record, "instruction", path, line, required=True)
    prefix = record.get("responses")
    prefix_steps = _steps(prefix, path, line, "responses") if prefix else ()
    step = _text(record, "next_response", path, line, required=True)
    rating = record.get("rating")
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or rating not in (-1, 0, 1)):
        raise IngestError(f"expected -1, 0, 1 or null, got {_preview(rating)}", path=path, line=line,
                          field="rating")
    steps = prefix_steps + (step,)
    labels = (None,) * len(prefix_steps) + (rating,)
    answer = _text(record, "answer", path, line, required=False)
    return Rollout(Problem(question, None, "prm800k", None), steps, answer, None, source="prm800k-stepwise",
                   score=None if rating is None else float(rating), step_labels=labels)


def _processbench_label(position: int, first_wrong: int) -> int | None:
    """Return a step's label: 1 before the first wrong step (or everywhere when it is -1),
    -1 at it, and None after it, where ProcessBench makes no claim."""
    if first_wrong == -1 or position < first_wrong:
        return 1
    if position == first_wrong:
        return -1
    return None

