import pytest

from tater_graph.errors import ConfigError
from tater_graph.steps import SplitConfig, normalize_step, split_steps


def test_split_blank_lines_by_default():
    text = "First we add.\nStill the first step.\n\n  \nThen we multiply.\n\n"
    assert split_steps(text) == ["First we add.\nStill the first step.", "Then we multiply."]


def test_split_newline_delimiter():
    assert split_steps("a = 1\n\nb = 2\nc = 3", SplitConfig(delimiter="newline")) == ["a = 1", "b = 2", "c = 3"]


def test_split_step_markers_win_over_blank_lines():
    text = "Let us think.\nStep 1: add 2 and 3.\n\nmore of step 1\nStep 2: so 5."
    assert split_steps(text) == ["Let us think.", "Step 1: add 2 and 3.\n\nmore of step 1", "Step 2: so 5."]


def test_split_markdown_step_headings():
    text = "## Step 1: Read\nWe read.\n## Step 2: Solve\nWe solve."
    assert split_steps(text) == ["## Step 1: Read\nWe read.", "## Step 2: Solve\nWe solve."]


def test_split_single_marker_is_not_a_split_rule():
    assert split_steps("Step 1: only one\n\nnext") == ["Step 1: only one", "next"]


def test_split_never_inside_display_math():
    text = "We have\n\n$$x = 1\n\ny = 2$$\n\nDone."
    assert split_steps(text) == ["We have", "$$x = 1\n\ny = 2$$", "Done."]


def test_split_never_inside_code_fence():
    text = "Code:\n\n```python\nx = 1\n\ny = 2\n```\n\nEnd."
    assert split_steps(text) == ["Code:", "```python\nx = 1\n\ny = 2\n```", "End."]


def test_split_never_inside_bracket_math_with_newline_delimiter():
    text = "a\n\\[\nx\n\\]\nb"
    assert split_steps(text, SplitConfig(delimiter="newline")) == ["a", "\\[\nx\n\\]", "b"]


def test_split_drops_empty_steps():
    assert split_steps("\n\n\n") == []
    assert split_steps("") == []


def test_split_config_rejects_unknown_delimiter():
    with pytest.raises(ConfigError, match="blank-line, newline"):
        SplitConfig(delimiter="comma")


@pytest.mark.parametrize(
    "left, right",
    [
        ("She has  12 apples.", "she has 12 apples."),
        ("Total: 1,000 dollars", "Total: 1000 dollars"),
        ("x = 3.50", "x = 3.5"),
        ("x = 2.0", "x = 2"),
        (r"\frac{1}{2}\,x", r"\frac{1}{2} x"),
        (r"\left( a \right)", r"( a )"),
        ("a\tb\nc", "a b c"),
    ],
)
def test_normalize_equivalent_forms(left, right):
    assert normalize_step(left) == normalize_step(right)


@pytest.mark.parametrize("left, right", [("x = 12", "x = 21"), ("3.5", "35"), ("a + b", "a - b")])
def test_normalize_keeps_different_steps_apart(left, right):
    assert normalize_step(left) != normalize_step(right)


def test_normalize_keeps_identifiers_with_digits():
    assert normalize_step("x2 = 1,000") == "x2 = 1000"
