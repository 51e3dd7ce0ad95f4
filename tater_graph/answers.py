"""Extract final answers from solutions, compare them, and vote.

GSM8K answers are numbers: the one after ``####``, else the last number in
the text. MATH answers are the contents of the last ``\\boxed{...}`` (nested
braces allowed). Answers are compared through :func:`answer_key`, so ``0.5``,
``1/2`` and ``\\frac{1}{2}`` vote together and ``-3.50`` equals ``-3.5``.
An answer that cannot be parsed is None; nothing here raises on bad text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction

ANSWER_FORMATS = ("gsm8k", "math")

_HASH_ANSWER = re.compile(r"####\s*([^\n]*)")
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def extract_answer(text: str | None, answer_format: str = "gsm8k") -> str | None:
    """Return the final answer in ``text`` as a string, or None when there is none.

    >>> extract_answer("9 * 2 = 18\\n#### 1,018")
    '1018'
    >>> extract_answer("So the total is $-3.50.")
    '-3.5'
    >>> extract_answer(r"Thus \\boxed{\\frac{1}{2}} and finally \\boxed{\\dfrac{3}{4}}.", "math")
    '\\\\dfrac{3}{4}'
    """
    if not text:
        return None
    if answer_format == "math":
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed.strip() or None
        return None

    match = None
    for match in _HASH_ANSWER.finditer(text):
        pass
    if match is not None:
        numbers = _NUMBER.findall(match.group(1))
        if numbers:
            return _clean_number(numbers[0])
    numbers = _NUMBER.findall(text)
    return _clean_number(numbers[-1]) if numbers else None


def last_boxed(text: str) -> str | None:
    """Return the contents of the last ``\\boxed{...}`` or ``\\fbox{...}``, braces balanced."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        # \boxed 5 is legal LaTeX: the argument is the next token.
        rest = text[start:].split(None, 2)
        return rest[1].rstrip("$.") if len(rest) > 1 else None
    depth = 0
    for position in range(brace, len(text)):
        char = text[position]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : position]
    return None


def _clean_number(literal: str) -> str | None:
    digits = literal.replace(",", "").replace("$", "")
    try:
        value = Fraction(digits)
    except (ValueError, ZeroDivisionError):
        return None
    return _format_fraction(value)


def _format_fraction(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    if Fraction(repr(as_float)) == value:
        return repr(as_float)
    return f"{value.numerator}/{value.denominator}"


_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}|\\[dt]?frac(\d)(\d)")


def answer_key(answer: str | None) -> str | None:
    """Return a canonical key: equal keys mean equivalent answers.

    Numbers (integers, decimals, fractions, ``\\frac``, percentages, amounts
    with ``$`` or thousands commas) map to one exact rational form; other
    answers map to their LaTeX with spacing and wrappers removed.

    >>> answer_key("0.5") == answer_key("1/2") == answer_key(r"\\frac{1}{2}") == answer_key(r"\\dfrac12")
    True
    >>> answer_key("-3.50") == answer_key("-3.5")
    True
    """
    if answer is None:
        return None
    text = answer.strip().strip("$").strip()
    text = _TEXT_WRAPPERS.sub(r"\1", text)
    text = re.sub(r"\\[,;:! ]|\\left|\\right|\s+", "", text)
    text = text.replace("\\%", "").replace("%", "").replace("^\\circ", "").replace("^{\\circ}", "")
    text = text.replace("\\$", "").replace("$", "").rstrip(".")
    if not text:
        return None

    numeric = _numeric_value(text)
    if numeric is not None:
        return "num:" + _format_fraction(numeric)
    return "tex:" + text


def _numeric_value(text: str) -> Fraction | None:
    frac = _FRAC.fullmatch(text)
    try:
        if frac:
            numerator, denominator = (frac.group(1), frac.group(2)) if frac.group(1) else (frac.group(3), frac.group(4))
            return Fraction(numerator) / Fraction(denominator)
        if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
            text = text.replace(",", "")
        if re.fullmatch(r"-?\d+(\.\d+)?|-?\.\d+|-?\d+/\d+", text):
            return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return None


def answers_match(predicted: str | None, gold: str | None) -> bool | None:
    """Return whether two answers are equivalent, or None when the gold answer is unknown."""
    if gold is None:
        return None
    key = answer_key(predicted)
    return key is not None and key == answer_key(gold)


def majority_vote(answers: Iterable[str | None], weights: Sequence[float] | None = None) -> str | None:
    """Return the answer with the largest (weighted) vote, ignoring None.

    Equivalent answers vote together. Ties go to the answer seen first, so the
    result is deterministic for a fixed order.

    >>> majority_vote(["1/2", "0.5", "3", None])
    '1/2'
    """
    answers = list(answers)
    if weights is None:
        weights = [1.0] * len(answers)
    totals: Counter[str] = Counter()
    first_form: dict[str, str] = {}
    for answer, weight in zip(answers, weights):
        key = answer_key(answer)
        if key is None:
            continue
        totals[key] += weight
        first_form.setdefault(key, answer)
    if not totals:
        return None
    best = max(totals.values())
    for key in first_form:
        if totals[key] == best:
            return first_form[key]
    return None


def gsm8k_gold(answer_field: str) -> str | None:
    """Return the gold answer of a GSM8K record: the number after ``#### ``."""
    return extract_answer(answer_field, "gsm8k") if "####" in answer_field else None
