"""Distilling typed experience from the graph into the experiences table."""

from __future__ import annotations

import pytest

from tater_graph import Problem
from tater_graph.backup import backup_vote
from tater_graph.errors import ConfigError
from tater_graph.experience import ExperienceConfig, distill, list_experiences, similar_experiences
from tater_graph.planner import Planner

from conftest import make_rollout

APPLES = Problem("Tom has 2 apples and buys 3 more. How many apples does he have?", "5", "test", "apples")
START = "He starts with 2 apples."
RIGHT = "2 + 3 = 5"
WRONG = "2 + 3 = 6"


def ingest(graph):
    graph.ingest([make_rollout(APPLES, [START, RIGHT, "#### 5"], "5", True)] * 3
                 + [make_rollout(APPLES, [START, WRONG, "#### 6"], "6", False)] * 4)


def stored(graph):
    return graph.sql("SELECT kind, content, visits, round(value, 4), source_rollouts FROM experiences "
                     "ORDER BY kind, content").fetchall()


def test_distill_finds_both_kinds(graph):
    ingest(graph)

    result = distill(graph)

    assert (result.positive, result.negative, result.deleted) == (1, 1, 0)
    assert stored(graph) == [
        ("negative", WRONG, 4, round(1 / 6, 4), [4, 5, 6, 7]),
        ("positive", RIGHT, 3, 0.8, [1, 2, 3]),
    ]


def test_experience_links_to_node(graph):
    ingest(graph)
    distill(graph)

    rows = graph.sql("SELECT e.content = n.step_text, e.problem_id = n.problem_id FROM experiences e "
                     "JOIN nodes n USING (node_id)").fetchall()

    assert rows == [(True, True), (True, True)]


def test_distill_is_idempotent(graph):
    ingest(graph)
    distill(graph)
    first = graph.sql("SELECT experience_id, node_id, kind, created_at FROM experiences ORDER BY 1").fetchall()

    again = distill(graph)

    assert graph.sql("SELECT experience_id, node_id, kind, created_at FROM experiences ORDER BY 1").fetchall() == first
    assert (again.positive, again.negative, again.deleted) == (1, 1, 0)


def test_distill_updates_and_deletes_stale(graph):
    ingest(graph)
    distill(graph)
    graph.ingest([make_rollout(APPLES, [START, WRONG, "#### 6"], "6", True)] * 12)  # now mostly right

    result = distill(graph)

    assert result.deleted == 1
    kinds = graph.sql("SELECT kind, content, visits FROM experiences ORDER BY content").fetchall()
    assert kinds == [("positive", RIGHT, 3), ("positive", WRONG, 16), ("positive", START, 19)]


def test_final_steps_left_out_by_default(graph):
    ingest(graph)

    distill(graph, config=ExperienceConfig(include_final_steps=True))

    assert [row[1] for row in stored(graph)] == ["#### 6", WRONG, "#### 5", RIGHT]


def test_thresholds_apply(graph):
    ingest(graph)

    result = distill(graph, config=ExperienceConfig(min_outcomes=4))

    assert (result.positive, result.negative) == (0, 1)


def test_distill_limited_to_problems(graph):
    ingest(graph)
    other = Problem("Ann has 4 pears and eats 1. How many are left?", "3")
    graph.ingest([make_rollout(other, ["4 - 1 = 3", "So 3 are left.", "#### 3"], "3", True)] * 3)
    other_id = graph.sql("SELECT problem_id FROM problems WHERE gold_answer = '3'").fetchall()[0][0]

    result = distill(graph, [other_id])

    assert (result.positive, result.negative) == (2, 0)
    assert {e.problem_id for e in list_experiences(graph)} == {other_id}


def test_vote_outcomes_feed_experience(graph):
    unknown = Problem("A box holds 2 red and 3 blue balls. How many balls?", None)
    graph.ingest([make_rollout(unknown, ["Red plus blue.", "2 + 3 = 5", "#### 5"], "5")] * 3
                 + [make_rollout(unknown, ["Red plus blue.", "2 * 3 = 6", "#### 6"], "6")])
    problem_id = graph.sql("SELECT problem_id FROM problems").fetchall()[0][0]

    before = distill(graph)
    backup_vote(graph, problem_id)
    after = distill(graph)

    assert (before.positive, before.negative) == (0, 0)
    assert (after.positive, after.negative) == (1, 0)
    assert [e.content for e in list_experiences(graph, "positive")] == ["2 + 3 = 5"]


def test_list_filters_and_orders(graph):
    ingest(graph)
    distill(graph)

    assert [e.kind for e in list_experiences(graph)] == ["negative", "positive"]  # most visits first
    assert [e.content for e in list_experiences(graph, "positive")] == [RIGHT]
    assert len(list_experiences(graph, limit=1)) == 1
    assert list_experiences(graph, problem_ids=[99]) == []
    assert list_experiences(graph, "negative")[0].source_rollouts == (4, 5, 6, 7)


def test_similar_experiences_from_similar_problem(graph):
    ingest(graph)
    distill(graph)

    found = similar_experiences(Planner(graph), "Tom has 2 apples and buys 3 more. How many apples now?")

    assert [e.content for _, e in found] == [RIGHT]
    assert found[0][0] > 0.5


@pytest.mark.parametrize("options, message", [
    ({"min_value": 0.2, "max_value": 0.3}, "invalid experience thresholds"),
    ({"min_outcomes": 0}, "invalid experience min_outcomes"),
])
def test_config_rejects_invalid_values(options, message):
    with pytest.raises(ConfigError, match=message):
        ExperienceConfig(**options)


def test_list_rejects_bad_kind(graph):
    with pytest.raises(ConfigError, match="invalid experience kind 'good'"):
        list_experiences(graph, "good")
