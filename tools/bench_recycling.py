"""Benchmark experience recycling: every condition on the same problems and seeds, in one process.

Each condition (a strategy and a set of recycling modes) runs on its own
copy of the workload's starting bank, so no condition sees another's
rollouts. Results go to ``docs/benchmarks.md`` and ``docs/img/``.

    python tools/bench_recycling.py --quick    # a few minutes on 2 cores
    python tools/bench_recycling.py            # the fuller run

Workloads:

- ``repeated``: ProcessBench GSM8K questions replayed from recorded
  rollouts, each asked a second time later in the stream.
- ``transfer``: a bank of GSM8K train reference solutions, evaluated on
  GSM8K test questions (replayed); the run checks that no test question is
  in the bank.
- ``replay``: each ProcessBench GSM8K question once, on an empty bank.
- ``arith2``: the bundled Gemma 3 270M model on arith2 problems, each
  asked twice, with a bank of reference solutions of other arith2 problems.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tater_graph.datasets import gsm8k_solution_steps, load_problems, read_records  # noqa: E402
from tater_graph.graph import StepGraph  # noqa: E402
from tater_graph.model.base import ModelBackend  # noqa: E402
from tater_graph.records import Problem, Rollout, RunSummary  # noqa: E402
from tater_graph.search import BeamConfig, RecyclingConfig, SearchConfig, beam_search, best_of_n  # noqa: E402
from tater_graph.store.writer import question_hash  # noqa: E402

logger = logging.getLogger("bench_recycling")

EMBEDDER = "hashed"  # e5 embeds about 6 texts a second on 2 busy cores: too slow for thousands of steps
Z95 = 1.959964


@dataclass(frozen=True)
class Condition:
    """One strategy with one set of recycling modes."""

    name: str
    strategy: str
    recycling: RecyclingConfig


@dataclass(frozen=True)
class Workload:
    """A problem stream in passes (one search run each), a model, a starting bank and the conditions to compare.

    A problem appears at most once per pass, because a run records one ledger row per problem.
    """

    name: str
    title: str
    description: str
    passes: tuple[tuple[Problem, ...], ...]
    make_model: Callable[[], ModelBackend]
    config: SearchConfig
    beam: BeamConfig
    conditions: tuple[Condition, ...]
    bank: tuple[Rollout, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """The measured result of one condition on one workload."""

    workload: str
    condition: Condition
    graded: int
    correct: int
    generated_tokens: int
    reused_tokens: int
    prompt_tokens: int
    model_calls: int
    wall_seconds: float
    early_stops: int = 0
    resamples: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.graded if self.graded else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.graded)

    @property
    def tokens_per_correct(self) -> float:
        return self.generated_tokens / self.correct if self.correct else math.inf


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Return the Wilson score interval of a binomial proportion (95 % by default).

    >>> [round(x, 3) for x in wilson_interval(8, 10)]
    [0.49, 0.943]
    """
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


# ---- conditions ---------------------------------------------------------------------------------------------

def best_of_n_conditions(modes: Sequence[str]) -> list[Condition]:
    conditions = [Condition("best-of-n", "best-of-n", RecyclingConfig())]
    for mode in modes:
        conditions.append(Condition(f"best-of-n + {mode}", "best-of-n", RecyclingConfig.from_modes([mode], **_SETTINGS)))
    conditions.append(Condition("best-of-n + all", "best-of-n", RecyclingConfig.from_modes(["all"], **_SETTINGS)))
    return conditions


def beam_conditions(modes: Sequence[str]) -> list[Condition]:
    conditions = [Condition("beam", "beam", RecyclingConfig())]
    for mode in modes:
        conditions.append(Condition(f"beam + {mode}", "beam", RecyclingConfig.from_modes([mode], **_SETTINGS)))
    conditions.append(Condition("beam + all", "beam", RecyclingConfig.from_modes(["all"], **_SETTINGS)))
    return conditions


# Hashed character n-gram vectors of two different word problems reach cosine 0.6 and more, so hints
# need a higher bar than planner states do.
_SETTINGS = {"hint_min_similarity": 0.75}
ALL_MODES = ("reuse", "prefix", "negative", "cross-problem", "early-stop")


# ---- workloads ----------------------------------------------------------------------------------------------

def spread(problems: Sequence[Problem], count: int) -> list[Problem]:
    """Return ``count`` problems evenly spaced over ``problems`` (ProcessBench lists its correct recordings last)."""
    if count >= len(problems):
        return list(problems)
    step = len(problems) / count
    return [problems[int(i * step)] for i in range(count)]


def repeated_stream(problems: Sequence[Problem], seed: int) -> tuple[tuple[Problem, ...], ...]:
    """Return two passes: each problem once, then each again in a seeded shuffled order."""
    again = list(problems)
    random.Random(seed).shuffle(again)
    return tuple(problems), tuple(again)


def replay_model() -> ModelBackend:
    from tater_graph.model.replay import ReplayModel

    return ReplayModel.from_processbench("gsm8k")


def gsm8k_train_bank(count: int) -> tuple[Rollout, ...]:
    """Return reference solutions of the first ``count`` GSM8K train problems as correct rollouts."""
    bank = []
    for problem, record in zip(load_problems("gsm8k-train", limit=count), read_records("gsm8k_train.jsonl.gz")):
        steps = tuple(gsm8k_solution_steps(record["answer"]))
        bank.append(Rollout(problem, steps, problem.gold_answer, True, source="reference"))
    return tuple(bank)


def arith2_bank(offset: int, count: int) -> tuple[Rollout, ...]:
    """Return reference solutions of arith2 problems ``offset`` to ``offset + count`` as correct rollouts."""
    records = read_records("arith2_problems.jsonl")[offset: offset + count]
    problems = load_problems("arith2", limit=count, offset=offset)
    return tuple(Rollout(problem, tuple(record["steps"]), problem.gold_answer, True, source="reference")
                 for problem, record in zip(problems, records))


def check_disjoint(stream: Sequence[Problem], bank: Sequence[Rollout]) -> None:
    """Raise when a problem of the stream is also in the bank."""
    banked = {question_hash(r.problem.question) for r in bank}
    leaked = [p.source_id for p in stream if question_hash(p.question) in banked]
    if leaked:
        raise SystemExit(f"{len(leaked)} evaluation problems are in the bank (first: {leaked[0]}): fix the split")


@dataclass(frozen=True)
class Size:
    """How large each workload is: quick and full modes differ only here."""

    replay_problems: int
    replay_n: int
    transfer_bank: int
    arith_problems: int
    arith_n: int
    arith_max_tokens: int
    beam_modes: tuple[str, ...] = field(default=())


QUICK = Size(replay_problems=12, replay_n=4, transfer_bank=300, arith_problems=2, arith_n=2, arith_max_tokens=40)
FULL = Size(replay_problems=60, replay_n=8, transfer_bank=1000, arith_problems=5, arith_n=4, arith_max_tokens=48,
            beam_modes=ALL_MODES)


def make_workloads(size: Size, names: Sequence[str]) -> list[Workload]:
    processbench = load_problems("processbench-gsm8k")
    replay_config = SearchConfig(n=size.replay_n, max_tokens=512, shots=0, seed=0)
    replay_beam = BeamConfig(width=size.replay_n, expansions=2, max_depth=16, step_max_tokens=256)
    replay_conditions = tuple(best_of_n_conditions(ALL_MODES) + beam_conditions(size.beam_modes))
    workloads = []

    if "repeated" in names:
        stream = repeated_stream(spread(processbench, size.replay_problems), seed=1)
        workloads.append(Workload(
            "repeated", "(a) repeated problems, replayed ProcessBench rollouts",
            f"{size.replay_problems} ProcessBench GSM8K questions, each asked twice (the second pass shuffled), "
            f"N = {size.replay_n}, empty starting bank.",
            stream, replay_model, replay_config, replay_beam, replay_conditions))

    if "transfer" in names:
        stream = tuple(spread(processbench[1:], size.replay_problems))
        bank = gsm8k_train_bank(size.transfer_bank)
        check_disjoint(stream, bank)
        stream = (stream,)
        workloads.append(Workload(
            "transfer", "(b) cross-problem transfer, GSM8K train bank to GSM8K test",
            f"Bank: reference solutions of the first {size.transfer_bank} GSM8K train problems. Evaluated on "
            f"{size.replay_problems} GSM8K test questions (replayed ProcessBench rollouts), none of them in the bank "
            f"(checked by question hash). N = {size.replay_n}.",
            stream, replay_model, replay_config, replay_beam, replay_conditions, bank))

    if "replay" in names:
        stream = (tuple(spread(processbench[2:], size.replay_problems * 2)),)
        workloads.append(Workload(
            "replay", "(c) replay of recorded rollouts, each problem once",
            f"{2 * size.replay_problems} ProcessBench GSM8K questions, each asked once, empty starting bank, "
            f"N = {size.replay_n}. Rollouts come from 12 open models (Qwen2/2.5, Llama 3/3.1, 1.5B to 72B).",
            stream, replay_model, replay_config, replay_beam, replay_conditions))

    if "arith2" in names:
        workloads.append(arith2_workload(size))
    return workloads


def arith2_workload(size: Size) -> Workload:
    from tater_graph.model.llama import LlamaBackend

    problems = load_problems("arith2", limit=size.arith_problems)
    bank = arith2_bank(100, 200)
    stream = repeated_stream(problems, seed=2)
    check_disjoint(problems, bank)
    backend: list[ModelBackend] = []

    def shared_model() -> ModelBackend:  # one llama.cpp context for every condition: loading takes seconds
        if not backend:
            backend.append(LlamaBackend(n_ctx=1024, n_threads=2))
        return backend[0]

    config = SearchConfig(n=size.arith_n, max_tokens=size.arith_max_tokens, shots=2, temperature=0.8, seed=0)
    conditions = (
        Condition("best-of-n", "best-of-n", RecyclingConfig()),
        Condition("best-of-n + cross-problem", "best-of-n", RecyclingConfig.from_modes(["cross-problem"], **_SETTINGS)),
        Condition("best-of-n + all", "best-of-n", RecyclingConfig.from_modes(["all"], **_SETTINGS)),
    )
    return Workload(
        "arith2", "(d) Gemma 3 270M on arith2",
        f"The bundled Gemma 3 270M (Q4_K_M, llama.cpp, 2 threads) on {size.arith_problems} arith2 problems, each "
        f"asked twice, N = {size.arith_n}, {size.arith_max_tokens} tokens per sample, 2-shot prompt, temperature "
        "0.8. Bank: reference solutions of 200 other arith2 problems.",
        stream, shared_model, config, BeamConfig(), conditions, bank)


# ---- running ------------------------------------------------------------------------------------------------

def run_workload(workload: Workload, workdir: Path) -> list[Outcome]:
    template = workdir / f"{workload.name}-bank.duckdb"
    with StepGraph.open(template, embedder=EMBEDDER) as graph:
        if workload.bank:
            graph.ingest(list(workload.bank))
    outcomes = []
    for condition in workload.conditions:
        outcome = run_condition(workload, condition, template, workdir)
        logger.info("%-10s %-28s accuracy %.3f  generated %8d  reused %8d  %6.1f s", workload.name, condition.name,
                    outcome.accuracy, outcome.generated_tokens, outcome.reused_tokens, outcome.wall_seconds)
        outcomes.append(outcome)
    return outcomes


def run_condition(workload: Workload, condition: Condition, template: Path, workdir: Path) -> Outcome:
    path = workdir / f"{workload.name}-{condition.name.replace(' ', '').replace('+', '-')}.duckdb"
    shutil.copyfile(template, path)
    for suffix in (".hnsw", ".hnsw.json"):  # the index and its sidecar
        if Path(f"{template}{suffix}").exists():
            shutil.copyfile(f"{template}{suffix}", f"{path}{suffix}")

    model = workload.make_model()
    started = time.perf_counter()
    with StepGraph.open(path, embedder=EMBEDDER) as graph:
        summaries = [_search(graph, model, workload, condition, problems) for problems in workload.passes]
    wall = time.perf_counter() - started
    return _outcome(workload.name, condition, summaries, wall)


def _search(graph: StepGraph, model: ModelBackend, workload: Workload, condition: Condition,
            problems: Sequence[Problem]) -> RunSummary:
    if condition.strategy == "beam":
        from tater_graph.scorers import get_scorer

        return beam_search(graph, model, problems, workload.config, beam=workload.beam,
                           scorer=get_scorer("arithmetic"), recycling=condition.recycling, dataset=workload.name)
    return best_of_n(graph, model, problems, workload.config, recycling=condition.recycling, dataset=workload.name)


def _outcome(workload: str, condition: Condition, summaries: Sequence[RunSummary], wall: float) -> Outcome:
    problems = [p for summary in summaries for p in summary.problems]
    graded = [p for p in problems if p.is_correct is not None]
    return Outcome(
        workload=workload, condition=condition, graded=len(graded), correct=sum(1 for p in graded if p.is_correct),
        generated_tokens=sum(p.generated_tokens for p in problems),
        reused_tokens=sum(p.reused_tokens for p in problems),
        prompt_tokens=sum(p.prompt_tokens for p in problems), model_calls=sum(p.model_calls for p in problems),
        wall_seconds=wall, early_stops=sum(p.early_stopped for p in problems),
        resamples=sum(p.resamples for p in problems),
    )


# ---- reporting ----------------------------------------------------------------------------------------------

def baseline_of(outcome: Outcome, outcomes: Sequence[Outcome]) -> Outcome:
    strategy = outcome.condition.strategy
    return next(o for o in outcomes if o.workload == outcome.workload and o.condition.strategy == strategy
                and not o.condition.recycling.enabled)


def saved_cell(outcome: Outcome, baseline: Outcome) -> str:
    """Return the generated-token saving, claimed only when accuracy is inside the baseline's interval."""
    if outcome is baseline:
        return "baseline"
    if baseline.generated_tokens == 0:
        return "n/a"
    saved = 1 - outcome.generated_tokens / baseline.generated_tokens
    low, high = baseline.interval
    if not low <= outcome.accuracy <= high:
        return f"no claim ({saved:+.0%}; accuracy outside the baseline interval)"
    return f"{saved:.0%}"


def table(workload: Workload, outcomes: Sequence[Outcome]) -> str:
    lines = [
        "| condition | accuracy (95% CI) | generated tokens | per problem | per correct | reused tokens | "
        "prompt tokens evaluated | model calls | early stops | resamples | wall s | generated tokens saved |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    problems = sum(len(p) for p in workload.passes)
    for outcome in outcomes:
        low, high = outcome.interval
        per_correct = "n/a" if math.isinf(outcome.tokens_per_correct) else f"{outcome.tokens_per_correct:.0f}"
        lines.append(
            f"| {outcome.condition.name} | {outcome.accuracy:.3f} ({low:.3f} to {high:.3f}), "
            f"{outcome.correct}/{outcome.graded} | {outcome.generated_tokens} | "
            f"{outcome.generated_tokens / problems:.0f} | {per_correct} | {outcome.reused_tokens} | "
            f"{outcome.prompt_tokens} | {outcome.model_calls} | {outcome.early_stops} | {outcome.resamples} | "
            f"{outcome.wall_seconds:.1f} | {saved_cell(outcome, baseline_of(outcome, outcomes))} |"
        )
    return "\n".join(lines)


def plot(workload: Workload, outcomes: Sequence[Outcome], path: Path) -> None:
    """Write accuracy (with its interval) against generated tokens per problem, one point per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.8))
    problems = sum(len(p) for p in workload.passes)
    for outcome in outcomes:
        low, high = outcome.interval
        marker = "s" if outcome.condition.strategy == "beam" else "o"
        axis.errorbar(outcome.generated_tokens / problems, outcome.accuracy,
                      yerr=[[outcome.accuracy - low], [high - outcome.accuracy]], fmt=marker, capsize=3,
                      label=outcome.condition.name)
    axis.set_title(workload.title, fontsize=10)
    axis.set_xlabel("generated tokens per problem")
    axis.set_ylabel("accuracy (95% Wilson interval)")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def report(workload: Workload, outcomes: Sequence[Outcome], mode: str, command: str, seconds: float,
           plot_name: str) -> str:
    """Return the markdown section of one workload's run."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"### {workload.title}, {mode} run\n\n{workload.description}\n\n"
            f"Command: `{command}`; {seconds / 60:.1f} minutes on {os.cpu_count()} CPU cores "
            f"(load average {load} when it finished); embedder {EMBEDDER}.\n\n"
            f"{table(workload, outcomes)}\n\n"
            f"![accuracy against generated tokens per problem, {workload.name}, {mode} run](img/{plot_name})\n")


def write_section(page: Path, key: str, text: str) -> None:
    """Replace the section ``key`` of ``page`` (between marker comments), keeping the rest of the page."""
    start, end = f"<!-- recycling-{key}:start -->", f"<!-- recycling-{key}:end -->"
    current = page.read_text(encoding="utf-8") if page.exists() else PAGE_HEADER
    block = f"{start}\n{text}\n{end}"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        current = before + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(current, encoding="utf-8")


PAGE_HEADER = """# Benchmarks

## Experience recycling

`tools/bench_recycling.py` runs every condition in one process on the same
problems and seeds; each condition starts from its own copy of the
workload's bank. Accuracy comes with a 95 % Wilson interval. A saving in
generated tokens is claimed only where the condition's accuracy lies inside
the baseline's interval (same strategy, no recycling).
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small workloads (a few minutes on 2 cores)")
    parser.add_argument("--workloads", default="repeated,transfer,replay,arith2",
                        help="comma-separated workloads to run (default: all four)")
    parser.add_argument("--strategies", default="best-of-n,beam",
                        help="comma-separated strategies to run (default: best-of-n,beam)")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="markdown page whose quick or full section this run replaces")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("tater_graph").setLevel(logging.WARNING)

    mode = "quick" if args.quick else "full"
    size = QUICK if args.quick else FULL
    strategies = args.strategies.split(",")
    command = "python tools/bench_recycling.py" + (" --quick" if args.quick else "")
    if args.workloads != parser.get_default("workloads"):
        command += f" --workloads {args.workloads}"
    if args.strategies != parser.get_default("strategies"):
        command += f" --strategies {args.strategies}"

    with tempfile.TemporaryDirectory(prefix="tater-bench-") as workdir:
        for workload in make_workloads(size, args.workloads.split(",")):
            workload = replace(workload, conditions=tuple(c for c in workload.conditions if c.strategy in strategies))
            started = time.perf_counter()
            outcomes = run_workload(workload, Path(workdir))
            seconds = time.perf_counter() - started

            plot_name = f"recycling-{mode}-{workload.name}.png"
            plot(workload, outcomes, args.page.parent / "img" / plot_name)
            text = report(workload, outcomes, mode, command, seconds, plot_name)
            write_section(args.page, f"{mode}-{workload.name}", text)
            print(text, flush=True)


if __name__ == "__main__":
    main()
