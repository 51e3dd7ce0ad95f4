"""Write tests/fixtures/schema_0001.duckdb.gz: a small graph at schema version 1, for upgrade tests.

The file is gzipped because a fresh DuckDB file of a dozen tables is about
7 MB of mostly empty 256 KiB blocks, and 17 KB compressed.

Run once, from the repository root, while 0001 is the only migration, and
commit the file; later migrations must upgrade it, never regenerate it:

    python tools/make_upgrade_fixture.py
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

from tater_graph import Problem, Rollout, StepGraph
from tater_graph.model.fake import FakeModel
from tater_graph.search import SearchConfig, best_of_n
from tater_graph.store import migrations

TARGET = Path("tests/fixtures/schema_0001.duckdb")
ARCHIVE = TARGET.with_name(TARGET.name + ".gz")


def main() -> None:
    if migrations.latest_version() != 1:
        sys.exit("this tater-graph has migrations past 0001: the fixture must come from schema version 1")
    if ARCHIVE.exists():
        sys.exit(f"{ARCHIVE} exists: the fixture is never regenerated")
    problems = [Problem("Ann has 3 pens and gets 4 more. How many pens?", "7", "fixture", "f-1"),
                Problem("Bo has 10 cards and gives away 6. How many cards?", "4", "fixture", "f-2")]
    with StepGraph.open(TARGET, embedder="hashed") as graph:
        graph.ingest([
            Rollout(problems[0], ("3 plus 4 is 7.", "#### 7"), "7", True, source="jsonl", step_labels=(1, 1)),
            Rollout(problems[0], ("3 plus 4 is 8.", "#### 8"), "8", False, source="jsonl", step_labels=(1, -1)),
            Rollout(problems[1], ("10 minus 6 is 4.", "#### 4"), "4", None, source="jsonl", score=0.9),
        ])
        model = FakeModel({problems[0].question: ["3 plus 4 is 7.\n#### 7"],
                           problems[1].question: ["10 minus 6 is 4.\n#### 4", "10 minus 4 is 6.\n#### 6"]})
        best_of_n(graph, model, problems, SearchConfig(n=3, shots=0))
    for sidecar in TARGET.parent.glob(TARGET.name + ".*"):
        sidecar.unlink()  # the index is derived: the upgrade test rebuilds it
    with open(TARGET, "rb") as source, gzip.open(ARCHIVE, "wb", compresslevel=9) as target:
        shutil.copyfileobj(source, target)
    TARGET.unlink()
    print(f"wrote {ARCHIVE} ({ARCHIVE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
