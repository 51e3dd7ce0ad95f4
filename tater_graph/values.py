"""Node values with uncertainty: a Beta posterior over the chance that a state leads to a correct answer.

Evidence on a node, in order of trust:

1. Gold outcomes: ``successes`` of ``graded`` rollouts through the node were
   graded correct against the gold answer (counted by the writer).
2. Vote outcomes, where no gold answer is known: ``vote_successes`` of
   ``vote_graded`` rollouts agree with the majority vote (counted by
   :func:`tater_graph.backup.backup_vote`), each weighted ``vote_weight``.
3. Step scores: ``score`` in [0, 1] from a step scorer counts as
   ``score_weight`` pseudo-rollouts, ``score`` of them successes.

The posterior is Beta(prior_successes + s, prior_failures + f), where ``s``
and ``f`` are the weighted successes and failures. Its mean is the value,
its standard deviation the uncertainty, so one visit moves the value only
part of the way from the prior mean, and the std shrinks as evidence grows.

>>> round(beta_mean(1, 0), 4), round(beta_std(1, 0), 4)
(0.6667, 0.2357)
>>> round(beta_mean(9, 1), 4), round(beta_std(9, 1), 4)
(0.8333, 0.1034)
"""

from __future__ import annotations

import math


def beta_mean(successes: float, failures: float, prior_successes: float = 1.0, prior_failures: float = 1.0) -> float:
    """Return the posterior mean of a Beta(prior_successes, prior_failures) prior after the given evidence."""
    alpha = prior_successes + successes
    beta = prior_failures + failures
    return alpha / (alpha + beta)


def beta_std(successes: float, failures: float, prior_successes: float = 1.0, prior_failures: float = 1.0) -> float:
    """Return the posterior standard deviation, ``sqrt(ab / ((a + b)^2 (a + b + 1)))``."""
    alpha = prior_successes + successes
    beta = prior_failures + failures
    total = alpha + beta
    return math.sqrt(alpha * beta / (total * total * (total + 1.0)))
