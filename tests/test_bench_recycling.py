"""The recycling benchmark's statistics, report and a tiny replayed workload."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tater_graph.records import Problem, Rollout
from tater_graph.search import RecyclingConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_recycling", ROOT / "tools" / "bench_recycling.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_recycling"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def outcome(bench, name, correct, graded, generated, modes=()):
    condition = bench.Condition(name, "best-of-n", RecyclingConfig.from_modes(modes))
    return bench.Outcome("w", condition, graded, correct, generated, 0, 0, 0, 0.0)


@pytest.mark.parametrize("successes, trials, low, high", [(8, 10, 0.490, 0.943), (0, 10, 0.0, 0.278),
                                                          (10, 10, 0.722, 1.0), (0, 0, 0.0, 1.0)])
def test_wilson_interval_known_values(bench, successes, trials, low, high):
    interval = bench.wilson_interval(successes, trials)

    assert interval[0] == pytest.approx(low, abs=1e-3)
    assert interval[1] == pytest.approx(high, abs=1e-3)


def test_saving_claimed_inside_interval(bench):
    baseline = outcome(bench, "base", 8, 10, 1000)
    recycled = outcome(bench, "all", 7, 10, 400, ["all"])

    assert bench.saved_cell(recycled, baseline) == "60%"
    assert bench.saved_cell(baseline, baseline) == "baseline"


def test_saving_not_claimed_outside_interval(bench):
    baseline = outcome(bench, "base", 8, 10, 1000)
    worse = outcome(bench, "all", 3, 10, 400, ["all"])

    assert bench.saved_cell(worse, baseline).startswith("no claim")


def test_write_section_replaces_only_its_block(bench, tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nOther results.\n")

    bench.write_section(page, "quick", "first")
    bench.write_section(page, "full", "full result")
    bench.write_section(page, "quick", "second")

    text = page.read_text()
    assert "Other results." in text
    assert "first" not in text
    assert text.count("second") == 1
    assert "full result" in text


def test_check_disjoint_rejects_leak(bench):
    problem = Problem("What is 2 + 2?", "4", "test", "t-1")
    bank = [Rollout(problem, ("2 + 2 = 4", "#### 4"), "4", True)]

    with pytest.raises(SystemExit, match="1 evaluation problems are in the bank"):
        bench.check_disjoint([problem], bank)


def test_repeated_workload_all_modes_saves_tokens(bench, tmp_path):
    size = bench.Size(replay_problems=4, replay_n=4, transfer_bank=10, arith_problems=1, arith_n=1,
                      arith_max_tokens=8)
    workload = bench.make_workloads(size, ["repeated"])[0]
    conditions = tuple(c for c in workload.conditions if c.name in ("best-of-n", "best-of-n + all"))
    workload = bench.replace(workload, conditions=conditions)

    baseline, recycled = bench.run_workload(workload, tmp_path)

    assert baseline.graded == recycled.graded == 8
    assert recycled.correct == baseline.correct
    assert recycled.generated_tokens < baseline.generated_tokens / 2
    assert recycled.reused_tokens > 0
