"""Problem sets bundled with tater-graph (see ``tater_graph/data/README.md``)."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from typing import Any

from tater_graph.answers import gsm8k_gold
from tater_graph.errors import ConfigError
from tater_graph.records import Problem

DATASETS = {
    "gsm8k": ("gsm8k_test.jsonl.gz", "gsm8k"),
    "gsm8k-train": ("gsm8k_train.jsonl.gz", "gsm8k"),
    "math500": ("math500_test.jsonl.gz", "math"),
    "arith2": ("arith2_problems.jsonl", "gsm8k"),
    "processbench-gsm8k": ("processbench_gsm8k.json.gz", "gsm8k"),
}


def data_path(filename: str):
    """Return a traversable path to a bundled data file."""
    return resources.files("tater_graph") / "data" / filename


def read_records(filename: str) -> list[dict[str, Any]]:
    """Read a bundled JSON or JSONL file, gzip-compressed or not."""
    raw = data_path(filename).read_bytes()
    if filename.endswith(".gz"):
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8")
    if ".jsonl" in filename:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def answer_format(dataset: str) -> str:
    """Return ``"gsm8k"`` or ``"math"``: how answers of ``dataset`` are written."""
    return _entry(dataset)[1]


def load_problems(dataset: str, limit: int | None = None, offset: int = 0) -> list[Problem]:
    """Return problems of a bundled dataset in file order, from ``offset``, at most ``limit``.

    >>> load_problems("gsm8k", limit=1)[0].gold_answer
    '18'
    """
    filename, _ = _entry(dataset)
    records = read_records(filename)
    if dataset == "processbench-gsm8k":
        records = _processbench_problems(records)
    end = None if limit is None else offset + limit
    problems = []
    for number, record in enumerate(records[offset:end], start=offset):
        problems.append(_to_problem(dataset, number, record))
    return problems


def _to_problem(dataset: str, number: int, record: dict[str, Any]) -> Problem:
    if dataset.startswith("gsm8k"):
        return Problem(record["question"], gsm8k_gold(record["answer"]), dataset, f"{dataset}-{number}")
    if dataset == "math500":
        return Problem(record["problem"], record["answer"], dataset, record.get("unique_id") or f"math500-{number}")
    answer = record["answer"]
    return Problem(record["question"], None if answer is None else str(answer), dataset,
                   record.get("id") or f"{dataset}-{number}")


def _processbench_problems(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ProcessBench's distinct GSM8K questions in file order, with gold answers from GSM8K test.

    Every one of ProcessBench's 375 distinct GSM8K questions is a GSM8K test question.
    """
    gold = {r["question"]: gsm8k_gold(r["answer"]) for r in read_records("gsm8k_test.jsonl.gz")}
    problems: dict[str, dict[str, Any]] = {}
    for record in records:
        question = record["problem"]
        if question not in problems:
            problems[question] = {"question": question, "answer": gold.get(question), "id": record["id"]}
    return list(problems.values())


def _entry(dataset: str) -> tuple[str, str]:
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    return DATASETS[dataset]


def gsm8k_solution_steps(answer_field: str) -> list[str]:
    """Return the reasoning lines of a GSM8K reference solution, calculator
    annotations (``<<3*4=12>>``) removed and the ``####`` line kept last."""
    import re

    text = re.sub(r"<<[^>]*>>", "", answer_field)
    return [line.strip() for line in text.splitlines() if line.strip()]
