"""A small step graph whose texts contain the characters exporters get wrong."""

from __future__ import annotations

from tater_graph import Problem, Rollout, StepGraph

QUESTION = 'A recipe needs 1/2 cup: "sugar" {x}. How much for 3 recipes?'

# Colons, quotes, newlines, braces, LaTeX, backslashes and a tab, as models write them.
TRICKY_STEPS = (
    "Step 1: each recipe needs $\\frac{1}{2}$ cup.",
    'The "sugar" amount is {x} = 1/2\nso 3 recipes need 3 * 1/2.',
    "Compute: \\(3 \\cdot \\frac{1}{2} = \\frac{3}{2}\\)\ttotal {1.5} cups.",
)


def build_tricky_graph(db_path) -> tuple[int, int]:
    """Ingest five rollouts of one problem into ``db_path``; return (problem id, run id).

    The rollouts share their first step, so the DAG branches. One run row is
    made by hand so that the run selection has rollouts to follow.
    """
    problem = Problem(QUESTION, "1.5", "test", "tricky-1")
    rollouts = [
        Rollout(problem, TRICKY_STEPS, "1.5", True, score=0.9),
        Rollout(problem, TRICKY_STEPS[:2] + ("So the answer is 1.5.",), "1.5", True),
        Rollout(problem, TRICKY_STEPS[:1] + ("Triple it: 3 * 2 = 6.", "The answer is 6."), "6", False),
        Rollout(problem, ("Guess: 4 cups.",), "4", False),
        Rollout(problem, TRICKY_STEPS[:1] + ("Triple it: 3 * 2 = 6.",), None, None),
    ]
    with StepGraph.open(db_path, embedder="hashed") as graph:
        con = graph.db.con
        con.execute("INSERT INTO runs (run_id, strategy, dataset, model) VALUES (7, 'best-of-n', 'test', 'fake')")
        graph.ingest(rollouts[:3], run_id=7)
        graph.ingest(rollouts[3:])
        problem_id = con.execute("SELECT problem_id FROM problems").fetchall()[0][0]
        node_id = con.execute("SELECT node_id FROM nodes WHERE step_text = ?", [TRICKY_STEPS[2]]).fetchall()[0][0]
        con.execute("INSERT INTO step_scores (node_id, scorer, score) VALUES (?, 'arithmetic', 1.0), "
                    "(?, 'self-eval', 0.25)", [node_id, node_id])
    return problem_id, 7
