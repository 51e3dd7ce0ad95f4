"""Step scorers: each maps (question, prior steps, step) to a score in [0, 1], higher is better.

Registered by name in :data:`SCORERS`; build one with :func:`get_scorer`.

- ``graph-value``: the planner's value of the state the step reaches
  (Beta posterior mean of the outcomes seen through it), or the prior
  mean where the graph has no such state.
- ``arithmetic``: 1 when every ``a op b = c`` claim in the step holds, 0
  when any fails, 0.5 when the step makes none (see
  :mod:`tater_graph.arithmetic`).
- ``self-eval``: the model's own judgement, read from token
  log-probabilities. ``mode="judge"`` asks whether the latest step is
  correct and returns P(Yes) / (P(Yes) + P(No)); ``mode="confidence"``
  returns the geometric mean probability of the step's tokens,
  ``exp(mean log p)``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tater_graph.arithmetic import check_claims
from tater_graph.errors import ConfigError
from tater_graph.model.base import TokenLogprobs
from tater_graph.planner import Planner
from tater_graph.prompts import build_prompt

JUDGE_QUESTION = "Is the last step correct? Answer Yes or No.\nAnswer:"
SELF_EVAL_MODES = ("judge", "confidence")


@runtime_checkable
class StepScorer(Protocol):
    """Scores one candidate step given the question and the steps before it."""

    name: str

    def score(self, question: str, prior_steps: Sequence[str], step: str) -> float:
        """Return a score in [0, 1]; higher means the step is more likely on a correct path."""
        ...


class GraphValueScorer:
    """The planner's value of the state after the step (exact or approximate match).

    Args:
        planner: reads the graph.
        unknown: the score of a state the graph does not contain; default:
            the prior mean of the planner's Beta prior.
    """

    name = "graph-value"

    def __init__(self, planner: Planner, unknown: float | None = None):
        config = planner.config
        self.planner = planner
        self.unknown = (config.prior_successes / (config.prior_successes + config.prior_failures)
                        if unknown is None else unknown)
        _check_unit("unknown", self.unknown)

    def score(self, question: str, prior_steps: Sequence[str], step: str) -> float:
        state = self.planner.state(question, [*prior_steps, step])
        return self.unknown if state is None else state.value


class ArithmeticScorer:
    """1 when all arithmetic claims of the step hold, 0 when any fails, ``neutral`` when it makes none."""

    name = "arithmetic"

    def __init__(self, neutral: float = 0.5):
        _check_unit("neutral", neutral)
        self.neutral = neutral

    def score(self, question: str, prior_steps: Sequence[str], step: str) -> float:
        results = check_claims(step)
        if not results:
            return self.neutral
        return 1.0 if all(results) else 0.0


class SelfEvalScorer:
    """The model's judgement of a step, from its token log-probabilities.

    Args:
        model: any backend with ``continuation_logprobs`` (the llama.cpp
            model reads them through a logits processor; the fake model
            scripts them).
        mode: ``"judge"`` or ``"confidence"`` (see the module docstring).
        yes, no: the continuations compared in judge mode.
    """

    name = "self-eval"

    def __init__(self, model: TokenLogprobs, mode: str = "judge", yes: str = " Yes", no: str = " No"):
        if mode not in SELF_EVAL_MODES:
            raise ConfigError(f"invalid self-eval mode {mode!r}: use one of {', '.join(SELF_EVAL_MODES)}")
        if not isinstance(model, TokenLogprobs):
            raise ConfigError(f"model {getattr(model, 'name', model)!r} cannot score tokens: "
                              "self-eval needs a backend with continuation_logprobs (llama.cpp or fake)")
        self.model = model
        self.mode = mode
        self.yes = yes
        self.no = no

    def score(self, question: str, prior_steps: Sequence[str], step: str) -> float:
        if self.mode == "confidence":
            logprobs = self.model.continuation_logprobs(build_prompt(question, (), prior_steps), step)
            return math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.5

        prompt = build_prompt(question, (), [*prior_steps, step]) + JUDGE_QUESTION
        yes = sum(self.model.continuation_logprobs(prompt, self.yes))
        no = sum(self.model.continuation_logprobs(prompt, self.no))
        # P(yes) / (P(yes) + P(no)) computed as a logistic of the difference, so tiny
        # probabilities do not underflow to 0 / 0.
        return 1.0 / (1.0 + math.exp(max(-700.0, min(700.0, no - yes))))


ScorerFactory = Callable[..., StepScorer]

SCORERS: dict[str, ScorerFactory] = {
    GraphValueScorer.name: GraphValueScorer,
    ArithmeticScorer.name: ArithmeticScorer,
    SelfEvalScorer.name: SelfEvalScorer,
}


def register_scorer(name: str, factory: ScorerFactory) -> None:
    """Add a scorer factory under ``name`` (replacing none: names are unique)."""
    if name in SCORERS:
        raise ConfigError(f"scorer {name!r} is already registered: pick another name")
    SCORERS[name] = factory


def get_scorer(name: str, **options: object) -> StepScorer:
    """Build the scorer registered as ``name`` with its options.

    >>> get_scorer("arithmetic").score("", [], "2 + 2 = 4")
    1.0
    """
    factory = SCORERS.get(name)
    if factory is None:
        close = difflib.get_close_matches(name, SCORERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown scorer {name!r}{hint}: use one of {', '.join(SCORERS)}")
    return factory(**options)


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"invalid {name} score {value!r}: use a value in [0, 1]")
