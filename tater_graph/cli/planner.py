"""Planner commands: ``continue`` (best next steps from a state) and ``experience distill|list``."""

from __future__ import annotations

import click

from tater_graph.cli.main import Context, cli, stderr
from tater_graph.cli.output import print_rows

pass_context = click.make_pass_decorator(Context)

CONTINUATION_COLUMNS = (
    "kind", "rank", "step", "value", "value_std", "visits", "graded", "successes", "vote_graded",
    "vote_successes", "support_rollouts", "support_problems", "is_terminal", "answer", "node_id", "problem_id",
    "node_ids", "similarity", "source_rollouts",
)
TABLE_COLUMNS = ("kind", "step", "value ± std", "visits", "support", "end", "node", "similarity")


@cli.command(name="continue")
@click.option("--problem", "problem_id", type=int, help="Problem id (see the problems table).")
@click.option("--question", help="Problem text; matched exactly (case and spacing folded), else approximately.")
@click.option("--step", "steps", multiple=True, help="A step already taken; repeat for each, in any order.")
@click.option("-k", type=click.IntRange(min=1), default=5, show_default=True, help="Continuations to show.")
@click.option("--min-similarity", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Minimum cosine similarity of an approximate state match.")
@click.option("--scope", type=click.Choice(["same", "similar", "any"]), default="similar", show_default=True,
              help="Problems an approximate match may come from.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as a JSON array.")
@pass_context
def continue_(ctx: Context, problem_id: int | None, question: str | None, steps: tuple[str, ...], k: int,
              min_similarity: float, scope: str, as_json: bool) -> None:
    """Print the best next steps from a state, and its known dead ends.

    The state is a problem plus the steps taken so far. Each continuation
    shows its value (Beta posterior mean) with its standard deviation, the
    rollouts and problems behind it, whether it ends in an answer, and its
    node ids.

    \b
    Example:
        tater-graph continue --problem 3 --step "She has 16 - 3 = 13 eggs." -k 3
    """
    from tater_graph.graph import StepGraph
    from tater_graph.planner import Planner, PlannerConfig

    if (problem_id is None) == (question is None):
        raise click.UsageError("give exactly one of --problem ID or --question TEXT")
    config = PlannerConfig(k=k, min_similarity=min_similarity, scope=scope)
    with StepGraph.open(ctx.db, read_only=True) as graph:
        result = Planner(graph, config).continuations(problem_id if question is None else question, steps)

    if result.state_node_id is None:
        stderr.print("No stored state matches: try a lower --min-similarity or --scope any.")
    elif result.exact:
        stderr.print(f"State: node {result.state_node_id} (exact match).")
    else:
        stderr.print(f"State: node {result.state_node_id} (approximate, similarity {result.similarity:.3f}).")

    ranked = [("continuation", c) for c in result.continuations] + [("dead end", c) for c in result.dead_ends]
    if as_json:
        print_rows(CONTINUATION_COLUMNS, [_json_row(kind, rank, c) for rank, (kind, c) in enumerate(ranked, 1)],
                   "json")
        return
    print_rows(TABLE_COLUMNS, [_table_row(kind, c) for kind, c in ranked], title="Continuations")


def _json_row(kind: str, rank: int, c) -> tuple:
    return (kind, rank, c.step_text, c.value, c.value_std, c.visits, c.graded, c.successes, c.vote_graded,
            c.vote_successes, c.support_rollouts, c.support_problems, c.is_terminal, c.answer, c.node_id,
            c.problem_id, list(c.node_ids), c.similarity, list(c.source_rollouts))


def _table_row(kind: str, c) -> tuple:
    end = f"answer {c.answer}" if c.is_terminal else ""
    support = f"{c.support_rollouts} rollouts, {c.support_problems} problem{'s' if c.support_problems != 1 else ''}"
    return (kind, c.step_text, f"{c.value:.3f} ± {c.value_std:.3f}", c.visits, support, end,
            ",".join(map(str, c.node_ids)), "" if c.similarity is None else f"{c.similarity:.3f}")


@cli.group()
def experience() -> None:
    """Distill and list typed experience: verified conclusions and failure patterns.

    \b
    Example:
        tater-graph experience distill
        tater-graph experience list --kind negative --json
    """


@experience.command()
@click.option("--problem", "problem_ids", type=int, multiple=True, help="Problem id to distill; repeatable. "
              "Default: every problem.")
@click.option("--min-value", type=click.FloatRange(0, 1), default=0.7, show_default=True,
              help="Minimum value of a positive experience.")
@click.option("--max-value", type=click.FloatRange(0, 1), default=0.25, show_default=True,
              help="Maximum value of a negative experience.")
@click.option("--min-outcomes", type=click.IntRange(min=1), default=3, show_default=True,
              help="Minimum graded or voted rollouts behind an experience.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_context
def distill(ctx: Context, problem_ids: tuple[int, ...], min_value: float, max_value: float, min_outcomes: int,
            as_json: bool) -> None:
    """Distill experience from the graph into the experiences table (rerunning updates it).

    \b
    Example:
        tater-graph experience distill --min-outcomes 2
    """
    from tater_graph.experience import ExperienceConfig
    from tater_graph.experience import distill as distill_experience
    from tater_graph.graph import StepGraph

    config = ExperienceConfig(min_value=min_value, max_value=max_value, min_outcomes=min_outcomes)
    with StepGraph.open(ctx.db) as graph:
        result = distill_experience(graph, problem_ids or None, config)
    rows = [("positive", result.positive), ("negative", result.negative), ("deleted", result.deleted)]
    print_rows(["kind", "count"], rows, "json" if as_json else "table", title="Experience")


@experience.command(name="list")
@click.option("--kind", type=click.Choice(["positive", "negative"]), help="Only this kind.")
@click.option("--problem", "problem_ids", type=int, multiple=True, help="Only this problem id; repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Rows to print.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as a JSON array.")
@pass_context
def list_(ctx: Context, kind: str | None, problem_ids: tuple[int, ...], limit: int, as_json: bool) -> None:
    """List stored experiences, most visited first.

    \b
    Example:
        tater-graph experience list --kind positive --limit 10
    """
    from tater_graph.experience import list_experiences
    from tater_graph.graph import StepGraph

    with StepGraph.open(ctx.db, read_only=True) as graph:
        found = list_experiences(graph, kind, problem_ids or None, limit)
    columns = ["experience_id", "kind", "content", "value", "visits", "problem_id", "node_id", "source_rollouts"]
    rows = [(e.experience_id, e.kind, e.content, e.value, e.visits, e.problem_id, e.node_id,
             list(e.source_rollouts)) for e in found]
    print_rows(columns, rows, "json" if as_json else "table", title="Experiences")
