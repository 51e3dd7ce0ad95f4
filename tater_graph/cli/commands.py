"""The core commands: search, ingest, stats and migrate."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tater_graph.cli.main import Context, cli, stderr
from tater_graph.cli.output import print_rows

pass_context = click.make_pass_decorator(Context)
EMBEDDER_CHOICE = click.Choice(["e5", "hashed"])
# The recycling modes of tater_graph.search.recycling.MODES, listed here so --help needs no heavy import.
RECYCLE_CHOICES = ["all", "none", "reuse", "prefix", "negative", "cross-problem", "early-stop"]


@cli.command()
@click.option("--dataset", type=click.Choice(["gsm8k", "gsm8k-train", "math500", "arith2", "processbench-gsm8k"]), default="gsm8k",
              show_default=True, help="Bundled problem set.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Number of problems.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="First problem index.")
@click.option("--n", "n", type=click.IntRange(min=1), default=8, show_default=True, help="Rollouts per problem.")
@click.option("--strategy", default="best-of-n", show_default=True, help="Search strategy: best-of-n or beam.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="GGUF model file (default: the bundled Gemma 3 270M).")
@click.option("--server", metavar="URL",
              help="OpenAI-compatible completion server to generate with, e.g. http://127.0.0.1:8080/v1 "
                   "(then --model-name names its model; --model is not used).")
@click.option("--model-name", default="default", show_default=True, help="Model name sent to --server.")
@click.option("--n-ctx", type=click.IntRange(min=256), default=2048, show_default=True,
              help="Model context window in tokens.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=192, show_default=True,
              help="Generation budget per rollout, in tokens.")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.8, show_default=True,
              help="Sampling temperature (0 is greedy).")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed of the run.")
@click.option("--shots", type=click.IntRange(min=0), default=4, show_default=True, help="Few-shot examples.")
@click.option("--embedder", type=EMBEDDER_CHOICE, default=None,
              help="Step embedder (default: the database's, else e5).")
@click.option("--replay", metavar="SOURCE",
              help="Serve recorded rollouts instead of generating: processbench-gsm8k, processbench-math, "
                   "or an ingest-format JSONL file.")
@click.option("--recycle", "recycle", multiple=True, type=click.Choice(RECYCLE_CHOICES),
              help="Recycling mode to turn on (repeatable); all turns on every mode.")
@click.option("--reuse/--no-reuse", default=None, help="Count stored rollouts of a known problem as samples.")
@click.option("--prefix/--no-prefix", "prefix", default=None,
              help="Start samples from the best stored path (beam: take stored next steps first).")
@click.option("--negative/--no-negative", default=None, help="Resample a sample that reaches a known dead end.")
@click.option("--cross-problem/--no-cross-problem", default=None,
              help="Put verified steps of similar solved problems into the prompt.")
@click.option("--early-stop/--no-early-stop", default=None, help="Stop sampling once the vote is decided.")
@click.option("--width", type=click.IntRange(min=1), default=4, show_default=True, help="Beam width.")
@click.option("--expansions", type=click.IntRange(min=1), default=2, show_default=True,
              help="Beam: candidate next steps per beam per depth.")
@click.option("--max-depth", type=click.IntRange(min=1), default=10, show_default=True,
              help="Beam: the maximum number of steps.")
@click.option("--scorer", default="arithmetic", show_default=True,
              help="Beam: the step scorer (arithmetic, graph-value or self-eval).")
@click.option("--leakage-guard", is_flag=True,
              help="Keep this run's problems and their near duplicates (question cosine similarity >= 0.95) "
                   "out of retrieval, and record the guard on the run.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@pass_context
def search(ctx: Context, dataset: str, limit: int, offset: int, n: int, strategy: str, model_path: Path | None,
           server: str | None, model_name: str, n_ctx: int, max_tokens: int, temperature: float, seed: int,
           shots: int, embedder: str | None, replay: str | None, recycle: tuple[str, ...], width: int,
           expansions: int, max_depth: int, scorer: str, leakage_guard: bool, as_json: bool,
           **switches: bool | None) -> None:
    """Run test-time search on bundled problems and store every rollout.

    Recycling modes reuse what the graph already holds; the run summary
    shows the tokens generated and the tokens reused instead.

    \b
    Example:
        tater-graph search --dataset gsm8k --limit 20 --n 8
        tater-graph search --dataset processbench-gsm8k --replay processbench-gsm8k --recycle all
        tater-graph search --dataset arith2 --strategy beam --width 4 --reuse --early-stop
    """
    from tater_graph.datasets import answer_format, load_problems
    from tater_graph.graph import StepGraph
    from tater_graph.search import SearchConfig, get_strategy

    run = get_strategy(strategy)
    config = SearchConfig(n=n, max_tokens=max_tokens, temperature=temperature, seed=seed, shots=shots,
                          answer_format=answer_format(dataset))
    options: dict[str, object] = {"recycling": _recycling_config(recycle, switches)}
    problems = load_problems(dataset, limit=limit, offset=offset)
    model = _load_replay(replay, answer_format(dataset)) if replay else _load_model(model_path, server, model_name,
                                                                                     n_ctx)

    with StepGraph.open(ctx.db, embedder=embedder) as graph, _progress() as progress:
        guard = scope = None
        if leakage_guard:
            guard, scope, options["planner"] = _guarded_planner(graph, dataset, offset, problems)
        if strategy == "beam":
            options.update(_beam_options(width, expansions, max_depth, scorer, graph, model, options.get("planner")))
        task = progress.add_task(f"{strategy} n={n}", total=len(problems), correct=0)
        correct = 0

        def advance(done: int, total: int, result) -> None:
            nonlocal correct
            correct += bool(result.is_correct)
            progress.update(task, completed=done, correct=correct)
            if not stderr.is_terminal:  # no live bar in logs and pipes: one line per problem instead
                stderr.print(f"problem {done}/{total}: answer {result.answer} (gold {result.gold_answer}), "
                             f"{result.generated_tokens} tokens, {result.wall_seconds:.1f} s, {correct} correct so far")

        summary = run(graph, model, problems, config, dataset=dataset, progress=advance, **options)
        if guard is not None:
            from tater_graph.bank.leakage import record_guard

            record_guard(graph.db, summary.run_id, guard, len(scope.excluded_problem_ids))

    rows = [
        ("run", summary.run_id), ("problems", summary.n_problems), ("correct", summary.n_correct),
        ("accuracy", round(summary.accuracy, 4)), ("prompt tokens", summary.prompt_tokens),
        ("generated tokens", summary.generated_tokens),
        ("generated tokens per problem", round(summary.generated_tokens_per_problem, 1)),
        ("reused tokens", summary.reused_tokens),
        ("model calls", summary.model_calls), ("wall seconds", round(summary.wall_seconds, 1)),
        ("generated tokens per second", round(summary.generated_tokens / summary.wall_seconds, 1)
         if summary.wall_seconds else 0.0),
        ("database", str(ctx.db)),
    ]
    print_rows(["metric", "value"], rows, "json" if as_json else "table", title="Search run")


def _recycling_config(recycle: tuple[str, ...], switches: dict[str, bool | None]):
    """Return the recycling config of ``--recycle`` modes, overridden by the per-mode flags."""
    from dataclasses import replace

    from tater_graph.search.recycling import RecyclingConfig

    config = RecyclingConfig.from_modes(recycle)
    fields = {"reuse": "reuse_stored", "prefix": "prefix_reuse", "negative": "negative",
              "cross_problem": "cross_problem", "early_stop": "early_stop"}
    overrides = {fields[name]: value for name, value in switches.items() if value is not None}
    return replace(config, **overrides)


def _guarded_planner(graph, dataset: str, offset: int, problems):
    """Return a leakage guard over ``problems``, its retrieval scope, and a planner reading through it."""
    from tater_graph.bank.leakage import LeakageGuard
    from tater_graph.bank.scope import retrieval_scope
    from tater_graph.planner import Planner

    guard = LeakageGuard.from_problems(f"{dataset}[{offset}:{offset + len(problems)}]", problems)
    scope = retrieval_scope(graph, guard)
    return guard, scope, Planner(graph, scope=scope)


def _beam_options(width: int, expansions: int, max_depth: int, scorer: str, graph, model,
                  planner=None) -> dict[str, object]:
    """Return the beam settings and the named step scorer, given what it reads (graph or model)."""
    from tater_graph.planner import Planner
    from tater_graph.scorers import get_scorer
    from tater_graph.search.beam import BeamConfig

    planner = planner or Planner(graph)
    scorer_options = {"graph-value": {"planner": planner}, "self-eval": {"model": model}}.get(scorer, {})
    return {"beam": BeamConfig(width=width, expansions=expansions, max_depth=max_depth),
            "scorer": get_scorer(scorer, **scorer_options), "planner": planner}


def _load_replay(source: str, answer_format: str):
    from tater_graph.model.replay import ReplayModel

    if source.startswith("processbench-"):
        return ReplayModel.from_processbench(source.removeprefix("processbench-"))
    return ReplayModel.from_jsonl(source, answer_format)


def _load_model(model_path: Path | None, server: str | None, model_name: str, n_ctx: int):
    if server:
        from tater_graph.model.openai_compat import OpenAICompatibleBackend

        return OpenAICompatibleBackend(server, model_name, n_ctx=n_ctx)
    from tater_graph.model.llama import LlamaBackend

    stderr.print(f"Loading model {model_path or 'Gemma 3 270M (bundled)'} ...")
    return LlamaBackend(model_path, n_ctx=n_ctx)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("correct {task.fields[correct]}"), TimeElapsedColumn(), console=stderr)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "processbench", "prm800k-stepwise"]), default="jsonl",
              show_default=True, help="Input format (see the docs for the JSONL fields).")
@click.option("--answer-format", type=click.Choice(["gsm8k", "math"]), default="gsm8k", show_default=True,
              help="How final answers are written, for extraction.")
@click.option("--embedder", type=EMBEDDER_CHOICE, default=None, help="Step embedder (default: the database's, else e5).")
@pass_context
def ingest(ctx: Context, file: Path, fmt: str, answer_format: str, embedder: str | None) -> None:
    """Add recorded rollouts from FILE to the graph, all or nothing.

    \b
    Example:
        tater-graph ingest rollouts.jsonl --format jsonl
    """
    from tater_graph.graph import StepGraph
    from tater_graph.ingest import read_rollouts

    rollouts = read_rollouts(file, fmt, answer_format=answer_format)
    with StepGraph.open(ctx.db, embedder=embedder) as graph:
        result = graph.ingest(rollouts)
    stderr.print(f"Ingested {result.rollouts} rollouts of {result.problems} problems: "
                 f"{result.new_nodes} new nodes, {result.new_edges} new edges.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print counts as JSON.")
@pass_context
def stats(ctx: Context, as_json: bool) -> None:
    """Print row counts and sizes of the graph."""
    from tater_graph.store.database import Database

    with Database(ctx.db, read_only=True) as db:
        rows = []
        for table in ("problems", "runs", "rollouts", "nodes", "edges", "rollout_steps", "node_vectors"):
            rows.append((table, db.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]))
        rows.append(("embedder", db.get_meta("embedder")))
    rows.append(("database bytes", ctx.db.stat().st_size))
    index = Path(str(ctx.db) + ".hnsw")
    rows.append(("index bytes", index.stat().st_size if index.exists() else 0))
    print_rows(["item", "value"], rows, "json" if as_json else "table", title=str(ctx.db))


@cli.command()
@click.option("--list", "list_only", is_flag=True, help="List migrations and whether each is applied; change nothing.")
@pass_context
def migrate(ctx: Context, list_only: bool) -> None:
    """Bring the database schema up to date (never needed for new files)."""
    import duckdb

    from tater_graph.store import migrations as m

    if list_only:
        con = duckdb.connect(str(ctx.db), read_only=True) if ctx.db.exists() else duckdb.connect()
        try:
            version = m.current_version(con)
        finally:
            con.close()
        rows = [(f"{x.version:04d}", x.name, "applied" if x.version <= version else "pending")
                for x in m.load_migrations()]
        print_rows(["version", "name", "status"], rows)
        return
    from tater_graph.store.database import Database

    with Database(ctx.db) as db:
        applied = db.applied
    stderr.print(f"Applied {len(applied)} migration(s); schema version {m.latest_version()}.")
