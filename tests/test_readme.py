"""The README's set-up commands are the ones CI and users run."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3 -m venv")]
    assert len(ci_lines) == 1
    assert ci_lines[0] in readme


def test_readme_main_job_runs_search_on_gsm8k():
    readme = (ROOT / "README.md").read_text()
    assert "tater-graph search --dataset gsm8k" in readme
