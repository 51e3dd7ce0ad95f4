import doctest

import pytest

import tater_graph.answers
import tater_graph.bank.namespaces
import tater_graph.bank.scope
import tater_graph.arithmetic
import tater_graph.datasets
import tater_graph.export.html
import tater_graph.export.sanitize
import tater_graph.export.tables
import tater_graph.scorers
import tater_graph.sql.check
import tater_graph.sql.diagnostics
import tater_graph.sql.examples
import tater_graph.steps


@pytest.mark.parametrize("module", [tater_graph.steps, tater_graph.answers, tater_graph.datasets,
                                    tater_graph.arithmetic, tater_graph.scorers, tater_graph.sql.check,
                                    tater_graph.sql.diagnostics, tater_graph.sql.examples,
                                    tater_graph.export.sanitize, tater_graph.export.tables, tater_graph.export.html,
                                    tater_graph.bank.namespaces, tater_graph.bank.scope])
def test_module_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
