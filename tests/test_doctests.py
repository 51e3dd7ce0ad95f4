import doctest

import pytest

import tater_graph.answers
import tater_graph.arithmetic
import tater_graph.datasets
import tater_graph.scorers
import tater_graph.steps


@pytest.mark.parametrize("module", [tater_graph.steps, tater_graph.answers, tater_graph.datasets,
                                    tater_graph.arithmetic, tater_graph.scorers])
def test_module_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
