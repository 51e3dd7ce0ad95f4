"""Find and check the arithmetic claims a solution step makes, such as ``16 - 3 - 4 = 9``.

A claim is a chain ``expr = expr [= expr ...]`` where every side is made of
numbers, ``+ - * / x × ÷``, and parentheses, and at least one side has an
operator (``x = 5`` and ``20 = 20`` are not claims). Numbers may carry
``$``, thousands commas, a leading ``.`` and ``%``. Words end a claim, so
``9 * 2 = $18 per day`` claims ``9 * 2 = 18``, and GSM8K calculator marks
(``<<16-3-4=9>>``) are read like plain text.

Arithmetic is exact (fractions). A result written as one number with d > 0
decimals matches a value within half its last digit, so ``10 / 3 = 3.33``
holds; a whole-number result must be exact, so ``10 / 3 = 3`` fails. In a
running total such as ``2 + 3 = 5 + 1 = 6``, a side that starts with the
previous side's value continues the computation.

>>> check_claims("She has 16 - 3 - 4 = 9 eggs, so 9 * 2 = $18.")
[True, True]
>>> check_claims("1,200 / 4 = 300 and 20% * 50 = 11")
[True, False]
>>> check_claims("No arithmetic here.")
[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_TOKEN = re.compile(
    r"(?P<number>\$?\s?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+|(?=\.\d))(?:\.\d+)?(?:\s?%)?)"
    r"|(?P<times>(?<=[\d%)])\s*[x×]\s*(?=[\d$(.]))"
    r"|(?P<op>[-+*/÷])"
    r"|(?P<open>\()|(?P<close>\))"
    r"|(?P<equals>=)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)
# Text before a run that means its first side is cut: "60 students x 2/3", "72 ft * 3/4".
_CUT_BEFORE = re.compile(r"(?:^|\s)[x×]\s*$|[*/+\-÷]\s*$")


@dataclass(frozen=True)
class _Token:
    kind: str  # number, op, open, close, equals
    text: str
    value: Fraction | None = None
    decimals: int = 0
    percent: bool = False


@dataclass(frozen=True)
class _Run:
    """A maximal run of arithmetic tokens and its character span in the step."""

    tokens: list[_Token]
    start: int
    end: int


@dataclass(frozen=True)
class Claim:
    """One checked equality: the sides as written and whether they agree."""

    left: str
    right: str
    holds: bool


def find_claims(step: str) -> list[Claim]:
    """Return every arithmetic claim in ``step``, checked, in reading order.

    A side that is not a whole expression (a mixed number such as
    ``1 1/2``, or an implicit product such as ``2(3 + 4)``) is skipped. So
    is a side cut by text: a first side that continues words or a variable
    (``S + 143 = 200``, ``60 students x 2/3 = 40``) and a last side glued to
    a letter (``= 5A``).
    """
    claims = []
    for run in _arithmetic_runs(step):
        sides = _split(run.tokens)
        for index, (left, right) in enumerate(zip(sides, sides[1:])):
            if index == 0 and _cut_before(step, run):
                continue
            if index == len(sides) - 2 and run.end < len(step) and step[run.end].isalpha():
                continue
            if _evaluate(left) is None or _evaluate(right) is None:
                continue
            if not (_has_operator(left) or _has_operator(right)):
                continue
            holds = _agree(left, right)
            if not holds and _has_operator(right) and right[0].kind == "number":
                # A running total ("2 + 3 = 5 + 1 = 6") claims only its first number here.
                holds = _agree(left, right[:1])
            claims.append(Claim(_text(left), _text(right), holds))
    return claims


def check_claims(step: str) -> list[bool]:
    """Return whether each arithmetic claim in ``step`` holds."""
    return [claim.holds for claim in find_claims(step)]


def _arithmetic_runs(step: str) -> list[_Run]:
    """Split the step into maximal runs of arithmetic tokens (any other character ends a run)."""
    runs: list[_Run] = []
    tokens: list[_Token] = []
    start = end = 0
    for match in _TOKEN.finditer(step):
        kind = match.lastgroup
        text = match.group(0)
        if kind == "space":
            continue
        if kind == "other":
            runs.append(_Run(tokens, start, end))
            tokens = []
            continue

        if not tokens:
            start = match.start() + len(text) - len(text.lstrip())
        end = match.end() - (len(text) - len(text.rstrip()))
        if kind == "number":
            tokens.append(_number(text))
        elif kind == "times":
            tokens.append(_Token("op", "*"))
        elif kind == "op":
            tokens.append(_Token("op", {"÷": "/"}.get(text, text)))
        else:
            tokens.append(_Token(kind, text))
    runs.append(_Run(tokens, start, end))
    return [run for run in runs if any(token.kind == "equals" for token in run.tokens)]


def _cut_before(step: str, run: _Run) -> bool:
    """Return whether the run's first side continues the text before it."""
    before = step[: run.start]
    if _CUT_BEFORE.search(before):
        return True
    # A binary operator right after a word or variable ("S + 143", "X*2") has its operand outside the run.
    return run.tokens[0].kind == "op" and before.rstrip()[-1:].isalnum()


def _number(text: str) -> _Token:
    digits = text.replace("$", "").replace(",", "").replace(" ", "")
    percent = digits.endswith("%")
    digits = digits.rstrip("%")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return _Token("number", text.strip(), Fraction(digits), decimals, percent)


def _split(run: list[_Token]) -> list[list[_Token]]:
    sides: list[list[_Token]] = [[]]
    for token in run:
        if token.kind == "equals":
            sides.append([])
        else:
            sides[-1].append(token)
    return sides


def _agree(left: list[_Token], right: list[_Token]) -> bool:
    """Return whether two sides agree: exactly, or within the rounding of a result written with decimals.

    A percent is read both as a fraction (``20 * 50% = 10``) and as its
    number (``100 - 5 = 95%``). Either reading may make the claim hold.
    """
    # The written result is the side that is one number; its decimals give the rounding allowed.
    decimals = 0
    if len(right) == 1:
        decimals = right[0].decimals
    elif len(left) == 1:
        decimals = left[0].decimals
    tolerance = Fraction(1, 2 * 10 ** decimals) if decimals else Fraction(0)

    for percent_as_fraction in (True, False):
        left_value = _evaluate(left, percent_as_fraction)
        right_value = _evaluate(right, percent_as_fraction)
        if left_value is not None and right_value is not None and abs(left_value - right_value) <= tolerance:
            return True
    return False


def _has_operator(tokens: list[_Token]) -> bool:
    numbers = sum(1 for token in tokens if token.kind == "number")
    return numbers >= 2 and any(token.kind == "op" for token in tokens)


def _text(tokens: list[_Token]) -> str:
    return " ".join(token.text for token in tokens)


def _evaluate(tokens: list[_Token], percent_as_fraction: bool = True) -> Fraction | None:
    """Return the exact value of the expression, or None when it is not one (or divides by zero)."""
    if not tokens:
        return None
    parser = _Parser(tokens, percent_as_fraction)
    try:
        value = parser.expression()
    except (_ParseError, ZeroDivisionError):
        return None
    return value if parser.position == len(tokens) else None


class _ParseError(Exception):
    pass


class _Parser:
    """Recursive descent: expression = term (+|- term)*, term = factor (*|/ factor)*."""

    def __init__(self, tokens: list[_Token], percent_as_fraction: bool):
        self.tokens = tokens
        self.percent_as_fraction = percent_as_fraction
        self.position = 0

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> _Token:
        token = self._peek()
        if token is None:
            raise _ParseError("unexpected end")
        self.position += 1
        return token

    def expression(self) -> Fraction:
        value = self.term()
        while (token := self._peek()) is not None and token.kind == "op" and token.text in "+-":
            self._take()
            value = value + self.term() if token.text == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while (token := self._peek()) is not None and token.kind == "op" and token.text in "*/":
            self._take()
            value = value * self.factor() if token.text == "*" else value / self.factor()
        return value

    def factor(self) -> Fraction:
        token = self._take()
        if token.kind == "op" and token.text in "+-":
            value = self.factor()
            return value if token.text == "+" else -value
        if token.kind == "number":
            assert token.value is not None
            return token.value / 100 if token.percent and self.percent_as_fraction else token.value
        if token.kind == "open":
            value = self.expression()
            if self._take().kind != "close":
                raise _ParseError("unclosed parenthesis")
            return value
        raise _ParseError(f"unexpected {token.text!r}")
