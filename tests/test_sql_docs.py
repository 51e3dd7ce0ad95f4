"""The SQL examples of docs/sql.md and the README run on a real graph."""

from __future__ import annotations

import re
import shlex

import pytest

from sql_helpers import REPO, build_small_graph
from tater_graph.sql import query, read_examples

DOC_EXAMPLES = read_examples(REPO / "docs" / "sql.md")


def _readme_queries() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    queries = []
    for line in text.splitlines():
        if line.startswith("tater-graph sql "):
            args = shlex.split(line)[2:]
            queries.append([a for a in args if not a.startswith("--")][0])
    return queries


README_QUERIES = _readme_queries()


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    return build_small_graph(tmp_path_factory.mktemp("docs") / "small.duckdb")


def test_docs_have_examples_for_every_macro_and_view():
    text = " ".join(sql for _, sql in DOC_EXAMPLES)

    for name in ("graph_problems", "graph_runs", "graph_rollouts", "graph_nodes", "graph_edges",
                 "graph_rollout_paths", "graph_experiences", "path_to_root(", "subtree(", "children(",
                 "best_path("):
        assert name in text, name
    assert len(README_QUERIES) >= 3


@pytest.mark.parametrize(("title", "sql"), DOC_EXAMPLES, ids=[title for title, _ in DOC_EXAMPLES])
def test_doc_example_runs(small_db, title, sql):
    relation = query(small_db, sql)

    assert relation.columns
    relation.fetchall()


@pytest.mark.parametrize("sql", README_QUERIES)
def test_readme_example_runs(small_db, sql):
    assert query(small_db, sql).fetchall()


def test_examples_split_by_heading():
    markdown = "## A\n```sql\nSELECT 1\n```\ntext\n```sql\nSELECT 2\n```\n### B\n```text\nnot sql\n```\n"

    assert read_examples(markdown) == [("A", "SELECT 1"), ("A (2)", "SELECT 2")]


def test_doc_error_sample_matches_real_message(small_db):
    doc = (REPO / "docs" / "sql.md").read_text(encoding="utf-8")
    sample = re.search(r'\$ tater-graph sql "(.*)"\n(Error: .*?)\n```', doc, re.DOTALL)

    with pytest.raises(Exception) as raised:
        query(small_db, sample.group(1))

    assert f"Error: {raised.value}" == sample.group(2)
