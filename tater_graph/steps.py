"""Split a rollout into reasoning steps and normalize step text for identity.

Splitting rules, in order:

1. Text inside ``$$...$$``, ``\\[...\\]`` and fenced code blocks is never split.
2. If the text has ``Step k:`` markers at line starts, each marker starts a step.
3. Otherwise steps are separated by the configured delimiter: blank lines
   (the default) or single newlines.
4. Empty steps are dropped.

Normalization keeps the original text for display and derives a key used
only for identity: whitespace collapsed, LaTeX spacing commands and
``\\left``/``\\right`` removed, numbers written one way (``1,000.50`` and
``1000.5`` match), and case folded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tater_graph.errors import ConfigError

DELIMITERS = ("blank-line", "newline")

_STEP_MARKER = re.compile(r"^[ \t]*(?:#+\s*)?\**Step\s+\d+\**\s*[:.)]\**", re.IGNORECASE | re.MULTILINE)
_PROTECTED = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|^```.*?^```[ \t]*$|^~~~.*?^~~~[ \t]*$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class SplitConfig:
    """How to split rollout text into steps.

    Attributes:
        delimiter: ``"blank-line"`` (paragraphs) or ``"newline"`` (one step a line).
        use_step_markers: split on ``Step k:`` markers when the text has them.
        max_steps: reject rollouts with more steps than this.
    """

    delimiter: str = "blank-line"
    use_step_markers: bool = True
    max_steps: int = 10_000

    def __post_init__(self) -> None:
        if self.delimiter not in DELIMITERS:
            raise ConfigError(f"invalid step delimiter {self.delimiter!r}: use one of {', '.join(DELIMITERS)}")
        if self.max_steps < 1:
            raise ConfigError(f"invalid max_steps {self.max_steps}: it must be at least 1")


def split_steps(text: str, config: SplitConfig = SplitConfig()) -> list[str]:
    """Split ``text`` into steps, with surrounding whitespace stripped.

    >>> split_steps("Add 2 and 3.\\n\\nSo 5.")
    ['Add 2 and 3.', 'So 5.']
    >>> split_steps("Step 1: x = 2\\nStep 2: y = x + 1")
    ['Step 1: x = 2', 'Step 2: y = x + 1']
    >>> split_steps("$$a\\n\\nb$$\\n\\nc")
    ['$$a\\n\\nb$$', 'c']
    """
    masked, protected = _mask_protected(text)

    if config.use_step_markers and len(_STEP_MARKER.findall(masked)) >= 2:
        starts = [m.start() for m in _STEP_MARKER.finditer(masked)]
        if starts[0] != 0:
            starts.insert(0, 0)
        pieces = [masked[a:b] for a, b in zip(starts, starts[1:] + [len(masked)])]
    elif config.delimiter == "newline":
        pieces = masked.split("\n")
    else:
        pieces = re.split(r"\n[ \t]*\n", masked)

    steps = [_unmask(piece, protected).strip() for piece in pieces]
    return [step for step in steps if step]


def _mask_protected(text: str) -> tuple[str, list[str]]:
    """Replace protected spans by placeholders without newlines, so no split lands inside."""
    protected: list[str] = []

    def keep(match: re.Match[str]) -> str:
        protected.append(match.group(0))
        return f"\x00{len(protected) - 1}\x00"

    return _PROTECTED.sub(keep, text.replace("\x00", "")), protected


def _unmask(piece: str, protected: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: protected[int(m.group(1))], piece)


_LATEX_SPACING = re.compile(r"\\[,;:!> ]|\\(?:quad|qquad|left|right|displaystyle|textstyle)\b|~")
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+\.\d+(?![\w])")
_WHITESPACE = re.compile(r"\s+")


def normalize_step(text: str) -> str:
    """Return the identity key of a step: same meaning written differently gives the same key.

    >>> normalize_step("  So  she has 1,000.50 dollars. ")
    'so she has 1000.5 dollars.'
    >>> normalize_step(r"\\frac{1}{2}\\,x") == normalize_step(r"\\frac{1}{2} x")
    True
    """
    key = _LATEX_SPACING.sub(" ", text)
    key = _NUMBER.sub(lambda m: _canonical_number(m.group(0)), key)
    key = _WHITESPACE.sub(" ", key).strip().casefold()
    return key


def _canonical_number(literal: str) -> str:
    digits = literal.replace(",", "")
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    if digits in ("-0", ""):
        digits = "0"
    return digits
