"""Write a run report: a markdown summary and PNG plots made with matplotlib.

The report reads only the store: the ``runs`` row, the per-problem ledger in
``run_problems``, the run's rollouts and the nodes they passed through. The
accuracy-against-tokens curve re-votes each problem on its first k rollouts
(k = 1 .. N, in sampling order) with the same majority vote as best-of-N, so
it shows what a smaller N would have scored on this run's samples.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: plots go to files only

import matplotlib.pyplot as plt  # noqa: E402

from tater_graph.answers import answers_match, majority_vote  # noqa: E402
from tater_graph.errors import NotFoundError  # noqa: E402
from tater_graph.export.atomic import atomic_paths  # noqa: E402
from tater_graph.export.build import select_run  # noqa: E402
from tater_graph.store.database import Database  # noqa: E402

logger = logging.getLogger(__name__)

REPORT_FILES = ("report.md", "accuracy-vs-tokens.png", "tokens-per-problem.png", "node-values.png")
QUESTION_CHARS = 60


@dataclass(frozen=True)
class ProblemRow:
    """One problem's line of the run ledger, with its question and gold answer."""

    problem_id: int
    source_id: str | None
    question: str
    gold_answer: str | None
    answer: str | None
    is_correct: bool | None
    n_rollouts: int
    prompt_tokens: int
    generated_tokens: int
    reused_tokens: int
    wall_seconds: float


@dataclass(frozen=True)
class CurvePoint:
    """Accuracy of the vote over the first ``k`` rollouts, against the tokens they generated."""

    k: int
    generated_tokens_per_problem: float
    accuracy: float | None
    graded_problems: int


@dataclass(frozen=True)
class RunData:
    """Everything the report shows, read from the store."""

    run: dict
    problems: list[ProblemRow]
    curve: list[CurvePoint]
    node_values: list[float]
    terminal_values: list[float]


def load_run(db: Database, run_id: int) -> RunData:
    """Read the report's data for ``run_id``.

    Raises:
        NotFoundError: no run has this id.
    """
    cursor = db.cursor()
    found = cursor.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
    columns = [column[0] for column in found.description]
    rows = found.fetchall()
    if not rows:
        raise NotFoundError(f"run {run_id} not found: list runs with "
                            "`tater-graph sql \"SELECT run_id, strategy, started_at FROM runs\"`")
    run = dict(zip(columns, rows[0]))

    problems = [ProblemRow(*row) for row in cursor.execute(
        "SELECT rp.problem_id, p.source_id, p.question, p.gold_answer, rp.answer, rp.is_correct, rp.n_rollouts, "
        "rp.prompt_tokens, rp.generated_tokens, rp.reused_tokens, rp.wall_seconds "
        "FROM run_problems rp JOIN problems p USING (problem_id) WHERE rp.run_id = ? ORDER BY rp.problem_id",
        [run_id]).fetchall()]

    node_sql = select_run(db, run_id).node_sql
    values = cursor.execute(
        f"SELECT value, terminal_visits > 0 FROM nodes WHERE node_id IN ({node_sql}) AND depth > 0",
        [run_id] * 4).fetchall()
    return RunData(run, problems, _vote_curve(db, run_id),
                   [value for value, terminal in values if not terminal],
                   [value for value, terminal in values if terminal])


def _vote_curve(db: Database, run_id: int) -> list[CurvePoint]:
    rows = db.cursor().execute(
        "SELECT r.problem_id, r.answer, r.generated_tokens, p.gold_answer FROM rollouts r "
        "JOIN problems p USING (problem_id) WHERE r.run_id = ? ORDER BY r.problem_id, r.rollout_id",
        [run_id]).fetchall()
    samples: dict[int, list[tuple[str | None, int]]] = defaultdict(list)
    gold: dict[int, str | None] = {}
    for problem_id, answer, tokens, gold_answer in rows:
        samples[problem_id].append((answer, tokens))
        gold[problem_id] = gold_answer
    if not samples:
        return []

    curve = []
    for k in range(1, max(len(s) for s in samples.values()) + 1):
        grades, tokens = [], []
        for problem_id, problem_samples in samples.items():
            first = problem_samples[:k]
            tokens.append(sum(t for _, t in first))
            grade = answers_match(majority_vote([a for a, _ in first]), gold[problem_id])
            if grade is not None:
                grades.append(grade)
        accuracy = sum(grades) / len(grades) if grades else None
        curve.append(CurvePoint(k, sum(tokens) / len(tokens), accuracy, len(grades)))
    return curve


def write_report(db: Database, run_id: int, folder: str | os.PathLike[str]) -> list[Path]:
    """Write ``report.md`` and three PNG plots for ``run_id`` into ``folder`` (created if missing).

    Returns:
        The written files, markdown first.

    Raises:
        NotFoundError: no run has this id.
    """
    data = load_run(db, run_id)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / name for name in REPORT_FILES]

    with atomic_paths(targets) as (markdown, accuracy_plot, tokens_plot, values_plot):
        markdown.write_text(render_markdown(data), encoding="utf-8")
        _plot_accuracy(data, accuracy_plot)
        _plot_tokens(data, tokens_plot)
        _plot_values(data, values_plot)
    logger.info("wrote the report of run %d to %s", run_id, folder)
    return targets


# --- Markdown ---------------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """Return ``value`` as one markdown table cell: no line breaks, ``|`` escaped."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def render_markdown(data: RunData) -> str:
    """Return the markdown summary of a run."""
    run, problems = data.run, data.problems
    graded = [p for p in problems if p.is_correct is not None]
    correct = sum(1 for p in graded if p.is_correct)
    accuracy = f"{correct}/{len(graded)} ({correct / len(graded):.1%})" if graded else "no graded problem"
    n = len(problems) or 1
    wall = run["wall_seconds"] or 0.0
    rate = f"{run['generated_tokens'] / wall:.1f}" if wall else "-"

    lines = [f"# Run {run['run_id']}: {run['strategy']} on {run['dataset'] or 'custom problems'}", ""]
    lines += _table(["setting", "value"], [
        ["model", run["model"]], ["status", run["status"]], ["started", run["started_at"]],
        ["finished", run["finished_at"]], ["config", run["config"]],
    ])
    lines += ["", "## Summary", ""]
    lines += _table(["metric", "total", "per problem"], [
        ["problems", len(problems), None],
        ["accuracy (majority vote)", accuracy, None],
        ["prompt tokens", run["prompt_tokens"], run["prompt_tokens"] / n],
        ["generated tokens", run["generated_tokens"], run["generated_tokens"] / n],
        ["reused tokens", run["reused_tokens"], run["reused_tokens"] / n],
        ["model calls", run["model_calls"], run["model_calls"] / n],
        ["wall seconds", wall, wall / n],
        ["generated tokens per second", rate, None],
    ])
    lines += ["", "## Accuracy against tokens", "",
              "Majority vote over each problem's first k rollouts, against the tokens those rollouts generated.", ""]
    lines += _table(["k", "generated tokens per problem", "accuracy", "graded problems"],
                    [[p.k, p.generated_tokens_per_problem, p.accuracy, p.graded_problems] for p in data.curve])
    lines += ["", "![accuracy against tokens](accuracy-vs-tokens.png)", "", "## Problems", ""]
    lines += _table(
        ["problem", "source", "question", "gold", "answer", "correct", "rollouts", "prompt tokens",
         "generated tokens", "seconds"],
        [[p.problem_id, p.source_id, _shorten(p.question), p.gold_answer, p.answer, p.is_correct, p.n_rollouts,
          p.prompt_tokens, p.generated_tokens, p.wall_seconds] for p in problems])
    lines += ["", "![tokens per problem](tokens-per-problem.png)", "", "## Node values", ""]
    values = data.node_values + data.terminal_values
    mean = f"{sum(values) / len(values):.3f}" if values else "-"
    lines += [f"{len(values)} nodes below the roots ({len(data.terminal_values)} terminal); mean value {mean}. "
              "A node's value is (successes + 1) / (graded + 2) over every rollout through it.", "",
              "![value distribution of nodes](node-values.png)", ""]
    return "\n".join(lines)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUESTION_CHARS else text[:QUESTION_CHARS - 1] + "\u2026"


# --- Plots ------------------------------------------------------------------------------------------------------


def _plot_accuracy(data: RunData, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(6, 4))
    points = [p for p in data.curve if p.accuracy is not None]
    if points:
        axes.plot([p.generated_tokens_per_problem for p in points], [p.accuracy for p in points], marker="o")
        for point in points:
            axes.annotate(f"k={point.k}", (point.generated_tokens_per_problem, point.accuracy),
                          textcoords="offset points", xytext=(4, 4), fontsize=8)
    else:
        axes.text(0.5, 0.5, "no graded rollouts", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("generated tokens per problem")
    axes.set_ylabel("accuracy (majority vote of first k rollouts)")
    axes.set_ylim(-0.05, 1.05)
    axes.set_title(f"Run {data.run['run_id']}: accuracy against tokens")
    axes.grid(alpha=0.3)
    _save(figure, path)


def _plot_tokens(data: RunData, path: Path) -> None:
    problems = data.problems
    figure, axes = plt.subplots(figsize=(max(6, 0.5 * len(problems) + 2), 4))
    labels = [str(p.problem_id) for p in problems]
    bottom = [0] * len(problems)
    for name, colour in (("prompt_tokens", "#9ecae1"), ("generated_tokens", "#3182bd"), ("reused_tokens", "#31a354")):
        heights = [getattr(p, name) for p in problems]
        axes.bar(labels, heights, bottom=bottom, color=colour, label=name.replace("_", " "))
        bottom = [b + h for b, h in zip(bottom, heights)]
    for position, (problem, top) in enumerate(zip(problems, bottom)):
        mark = {True: "\u2713", False: "\u2717"}.get(problem.is_correct, "?")
        axes.annotate(mark, (position, top), ha="center", va="bottom")
    axes.set_ylim(0, max(bottom, default=0) * 1.15 or 1)  # room for the marks above the bars
    axes.set_xlabel("problem id (\u2713 correct, \u2717 wrong)")
    axes.set_ylabel("tokens")
    axes.set_title(f"Run {data.run['run_id']}: tokens per problem")
    axes.legend()
    _save(figure, path)


def _plot_values(data: RunData, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(6, 4))
    bins = [i / 20 for i in range(21)]
    axes.hist([data.node_values, data.terminal_values], bins=bins, stacked=True, color=["#9ecae1", "#e6550d"],
              label=["inner nodes", "terminal nodes"])
    axes.set_xlabel("node value (successes + 1) / (graded + 2)")
    axes.set_ylabel("nodes")
    axes.set_title(f"Run {data.run['run_id']}: value distribution of nodes")
    axes.legend()
    _save(figure, path)


def _save(figure, path: Path) -> None:
    try:
        figure.tight_layout()
        figure.savefig(path, format="png", dpi=100)
    finally:
        plt.close(figure)
