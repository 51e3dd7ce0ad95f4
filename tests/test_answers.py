import pytest

from tater_graph.answers import answer_key, answers_match, extract_answer, last_boxed, majority_vote


@pytest.mark.parametrize(
    "text, expected",
    [
        ("She makes 9 * 2 = $18.\n#### 18", "18"),
        ("#### 1,234", "1234"),
        ("The answer is 7 apples and 3 pears", "3"),
        ("so -3.50 dollars", "-3.5"),
        ("#### $-3.50", "-3.5"),
        ("It costs $1,200.00 in total.", "1200"),
        ("no numbers here", None),
        ("", None),
        ("#### forty\nbut earlier we said 40", "40"),
        ("x = .5", "0.5"),
    ],
)
def test_extract_gsm8k(text, expected):
    assert extract_answer(text, "gsm8k") == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"So \boxed{5}.", "5"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"first \boxed{1} then \boxed{\sqrt{\frac{a}{b}}}", r"\sqrt{\frac{a}{b}}"),
        (r"\boxed{(1, \{2\})}", r"(1, \{2\})"),
        (r"\boxed{unbalanced", None),
        ("no box at all, 42", None),
        (r"\fbox{7}", "7"),
    ],
)
def test_extract_math(text, expected):
    assert extract_answer(text, "math") == expected


def test_last_boxed_nested_braces():
    assert last_boxed(r"\boxed{a{b{c}}d}") == "a{b{c}}d"


@pytest.mark.parametrize(
    "a, b",
    [
        ("0.5", "1/2"),
        ("0.5", r"\frac{1}{2}"),
        (r"\dfrac{1}{2}", r"\frac12"),
        ("-3.50", "-3.5"),
        ("1,000", "1000"),
        ("$18", "18"),
        ("50\\%", "50"),
        (r"\text{(A)}", "(A)"),
        ("x + 1", "x+1"),
    ],
)
def test_equivalent_answers_match(a, b):
    assert answers_match(a, b) is True


@pytest.mark.parametrize("a, b", [("0.5", "0.25"), ("18", "-18"), ("x+1", "x-1"), (None, "3")])
def test_different_answers_do_not_match(a, b):
    assert answers_match(a, b) is False


def test_unknown_gold_gives_none():
    assert answers_match("3", None) is None


def test_answer_key_of_unparseable_is_none():
    assert answer_key(None) is None
    assert answer_key("   ") is None


def test_vote_groups_equivalent_forms():
    assert majority_vote(["1/2", "3", "0.5", r"\frac{1}{2}", "3"]) == "1/2"


def test_vote_ignores_none_and_breaks_ties_by_first_seen():
    assert majority_vote([None, "4", "5", None]) == "4"
    assert majority_vote([None, None]) is None


def test_weighted_vote():
    assert majority_vote(["4", "5", "5"], weights=[0.9, 0.2, 0.3]) == "4"
