"""Best-of-N search logic with the deterministic fake model, on a real store."""

import pytest

from tater_graph import Problem
from tater_graph.errors import ConfigError
from tater_graph.model.fake import FakeModel
from tater_graph.search import SearchConfig, best_of_n, get_strategy
from tater_graph.search.common import rollout_seed

P1 = Problem("Ann has 3 pens and buys 4 more. How many pens?", "7", "test", "p1")
P2 = Problem("Bob has 10 cups and breaks 2. How many cups?", "8", "test", "p2")

SOLUTIONS = {
    P1.question: ["3 + 4 = 7\n#### 7", "3 + 4 = 7\nSo 7 pens.\n#### 7", "3 * 4 = 12\n#### 12"],
    P2.question: ["10 - 2 = 9\n#### 9", "10 + 2 = 12\n#### 12", "10 - 2 = 8\n#### 8"],
}


def config(**overrides):
    return SearchConfig(**{"n": 6, "shots": 0, "max_tokens": 50, **overrides})


def test_best_of_n_stores_every_rollout(graph):
    model = FakeModel(SOLUTIONS)
    summary = best_of_n(graph, model, [P1, P2], config())
    assert summary.n_problems == 2
    assert graph.sql("SELECT count(*) FROM rollouts WHERE run_id = ?", params=[summary.run_id]).fetchall()[0][0] == 12
    assert len(model.calls) == 12
    assert summary.model_calls == 12


def test_vote_and_grade_follow_the_samples(graph):
    summary = best_of_n(graph, FakeModel(SOLUTIONS), [P1, P2], config())
    results = {r.gold_answer: r for r in summary.problems}
    seeds = [rollout_seed(0, P1.question, i) % 3 for i in range(6)]
    p1_answers = ["7" if s in (0, 1) else "12" for s in seeds]
    expected_p1 = max(dict.fromkeys(p1_answers), key=p1_answers.count)
    assert results["7"].answer == expected_p1
    assert results["7"].is_correct == (expected_p1 == "7")
    assert summary.n_correct == sum(1 for r in summary.problems if r.is_correct)


def test_token_ledger_matches_rollouts(graph):
    summary = best_of_n(graph, FakeModel(SOLUTIONS), [P1, P2], config())
    stored = graph.sql(
        "SELECT sum(generated_tokens), sum(prompt_tokens) FROM rollouts WHERE run_id = ?", params=[summary.run_id]
    ).fetchall()[0]
    assert stored == (summary.generated_tokens, summary.prompt_tokens)
    run = graph.sql("SELECT generated_tokens, n_problems, status FROM runs WHERE run_id = ?",
                    params=[summary.run_id]).fetchall()[0]
    assert run == (summary.generated_tokens, 2, "finished")
    per_problem = graph.sql("SELECT sum(generated_tokens) FROM run_problems WHERE run_id = ?",
                            params=[summary.run_id]).fetchall()[0][0]
    assert per_problem == summary.generated_tokens


def test_same_seed_gives_same_run(tmp_path):
    from tater_graph import StepGraph

    texts = []
    for name in ("a", "b"):
        with StepGraph.open(tmp_path / f"{name}.duckdb", embedder="hashed") as graph:
            best_of_n(graph, FakeModel(SOLUTIONS), [P1, P2], config(seed=7))
            texts.append(graph.sql("SELECT seed, text FROM rollouts ORDER BY rollout_id").fetchall())
    assert texts[0] == texts[1]


def test_seeds_do_not_depend_on_problem_order(graph):
    best_of_n(graph, FakeModel(SOLUTIONS), [P1, P2], config())
    best_of_n(graph, FakeModel(SOLUTIONS), [P2, P1], config())
    by_run = graph.sql(
        "SELECT run_id, list(seed ORDER BY seed) FROM rollouts r JOIN problems p USING (problem_id) "
        "WHERE p.source_id = 'p1' GROUP BY run_id ORDER BY run_id"
    ).fetchall()
    assert by_run[0][1] == by_run[1][1]


def test_model_failure_is_recorded_and_run_continues(graph):
    failing_seed = rollout_seed(0, P1.question, 2)
    summary = best_of_n(graph, FakeModel(SOLUTIONS, fail_on=frozenset({failing_seed})), [P1, P2], config())
    errors = graph.sql("SELECT seed, n_steps, error FROM rollouts WHERE error IS NOT NULL").fetchall()
    assert errors == [(failing_seed, 0, f"scripted failure for seed {failing_seed}")]
    assert summary.n_problems == 2
    root_visits = graph.sql(
        "SELECT n.visits FROM nodes n JOIN problems p USING (problem_id) WHERE p.source_id = 'p1' AND n.depth = 0"
    ).fetchall()[0][0]
    assert root_visits == 5


def test_repeated_runs_merge_into_the_same_dag(graph):
    best_of_n(graph, FakeModel(SOLUTIONS), [P1], config(n=3))
    nodes_after_one = graph.sql("SELECT count(*) FROM nodes").fetchall()[0][0]
    best_of_n(graph, FakeModel(SOLUTIONS), [P1], config(n=3))
    assert graph.sql("SELECT count(*) FROM nodes").fetchall()[0][0] == nodes_after_one
    assert graph.sql("SELECT visits FROM nodes WHERE depth = 0").fetchall() == [(6,)]


def test_steps_split_on_lines(graph):
    best_of_n(graph, FakeModel({P1.question: ["3 + 4 = 7\nSo 7 pens.\n#### 7"]}), [P1], config(n=1))
    steps = graph.sql("SELECT step_text FROM rollout_steps ORDER BY position").fetchall()
    assert steps == [("3 + 4 = 7",), ("So 7 pens.",), ("#### 7",)]


def test_search_config_validation():
    with pytest.raises(ConfigError, match="at least 1 rollout"):
        SearchConfig(n=0)
    with pytest.raises(ConfigError, match="answer format"):
        SearchConfig(answer_format="latex")
    with pytest.raises(ConfigError, match="unknown search strategy 'mcts'"):
        get_strategy("mcts")


def test_run_left_running_is_marked_interrupted_on_open(db_path):
    from tater_graph import StepGraph

    with StepGraph.open(db_path, embedder="hashed") as graph:
        summary = best_of_n(graph, FakeModel(SOLUTIONS), [P1, P2], config(n=2))
        # Simulate a writer killed mid-run: the run row still says running, with an empty ledger.
        graph.sql("UPDATE runs SET status = 'running', n_problems = 0, generated_tokens = 0")
    with StepGraph.open(db_path) as graph:
        row = graph.sql("SELECT status, n_problems, generated_tokens FROM runs WHERE run_id = ?",
                        params=[summary.run_id]).fetchall()[0]
    assert row == ("interrupted", 2, summary.generated_tokens)
