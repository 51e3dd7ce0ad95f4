"""Read titled SQL examples out of a Markdown page, so that tests and benchmarks run the documented queries."""

from __future__ import annotations

import re
from pathlib import Path

_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$")
_FENCE_OPEN = re.compile(r"^```sql\s*$")


def read_examples(markdown: str | Path) -> list[tuple[str, str]]:
    """Return (title, query) for every fenced ``sql`` block, titled by the heading above it.

    Blocks fenced as ``sql`` are examples; write other SQL with another info
    string (``text``) to keep it out. A heading with more than one block
    numbers them: "Title (2)".

    >>> read_examples("### Count nodes\\n```sql\\nSELECT count(*) FROM graph_nodes\\n```\\n")
    [('Count nodes', 'SELECT count(*) FROM graph_nodes')]
    """
    text = markdown.read_text(encoding="utf-8") if isinstance(markdown, Path) else markdown
    examples = []
    title = "untitled"
    seen: dict[str, int] = {}
    block: list[str] | None = None
    for line in text.splitlines():
        if block is not None:
            if line.strip() == "```":
                seen[title] = seen.get(title, 0) + 1
                name = title if seen[title] == 1 else f"{title} ({seen[title]})"
                examples.append((name, "\n".join(block).strip()))
                block = None
            else:
                block.append(line)
        elif _FENCE_OPEN.match(line):
            block = []
        elif heading := _HEADING.match(line):
            title = heading.group(1)
    return examples
