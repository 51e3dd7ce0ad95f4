"""A deterministic model backend for tests of search logic.

It reads the question from the prompt (the text after the last
``Question:``), picks one of the scripted solutions for that question by
``seed``, continues it from whatever solution prefix the prompt already
contains, and cuts the output at stop strings and the token budget. Tokens
are whitespace-separated words, so counts are easy to check by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from tater_graph.errors import ContextOverflowError, ModelError
from tater_graph.model.base import GenerationRequest
from tater_graph.records import Generation

QUESTION_MARK = "Question:"
ANSWER_MARK = "Answer:\n"


class FakeModel:
    """Serves scripted solutions.

    Args:
        solutions: question text -> candidate solution texts, or a function
            ``(question, seed) -> solution text``.
        n_ctx: context window in words.
        fail_on: seeds whose call raises :class:`ModelError` (to test fault handling).
        logprobs: a function ``(prompt, continuation) -> per-word log-probabilities``
            that replaces the default rule of :meth:`continuation_logprobs`.
    """

    name = "fake"

    def __init__(self, solutions: Mapping[str, Sequence[str]] | Callable[[str, int], str], n_ctx: int = 100_000,
                 fail_on: frozenset[int] = frozenset(),
                 logprobs: Callable[[str, str], list[float]] | None = None):
        self.solutions = solutions
        self.n_ctx = n_ctx
        self.fail_on = fail_on
        self.logprobs = logprobs
        self.calls: list[GenerationRequest] = []
        self.scored: list[tuple[str, str]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, request: GenerationRequest) -> Generation:
        self.calls.append(request)
        prompt_tokens = self.count_tokens(request.prompt)
        if prompt_tokens + request.max_tokens > self.n_ctx:
            raise ContextOverflowError(
                f"prompt of {prompt_tokens} tokens plus a budget of {request.max_tokens} exceeds the "
                f"{self.n_ctx}-token context of {self.name}: shorten the prompt or lower max_tokens"
            )
        if request.seed in self.fail_on:
            raise ModelError(f"scripted failure for seed {request.seed}")

        question, prefix = _parse_prompt(request.prompt)
        full = self._solution(question, prefix, request.seed)
        text = full[len(prefix):] if full.startswith(prefix) else full
        for stop in request.stop:
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
        words = text.split(" ")
        finish = "stop"
        if len(text.split()) > request.max_tokens:
            text = " ".join(words[: request.max_tokens])
            finish = "length"
        return Generation(text=text, prompt_tokens=prompt_tokens, generated_tokens=self.count_tokens(text),
                          finish_reason=finish, prompt_tokens_evaluated=prompt_tokens)

    def continuation_logprobs(self, prompt: str, continuation: str) -> list[float]:
        """Return one log-probability per word of ``continuation``.

        By default a word scores log(0.9) while the prompt's solution prefix
        plus the continuation so far starts a scripted solution of the
        question. From the first word where it does not, words score
        log(0.1). With callable ``solutions`` no prefix is scripted, so every
        word scores log(0.5).
        """
        self.scored.append((prompt, continuation))
        if self.logprobs is not None:
            return list(self.logprobs(prompt, continuation))
        words = continuation.split()
        if callable(self.solutions):
            return [math.log(0.5)] * len(words)

        question, prefix = _parse_prompt(prompt)
        scripts = [candidate.split() for candidate in self.solutions.get(question, ())]
        written = prefix.split()
        scores = []
        for word in words:
            written.append(word)
            on_script = any(script[: len(written)] == written for script in scripts)
            if not on_script:
                break
            scores.append(math.log(0.9))
        return scores + [math.log(0.1)] * (len(words) - len(scores))

    def _solution(self, question: str, prefix: str, seed: int) -> str:
        if callable(self.solutions):
            return self.solutions(question, seed)
        candidates = list(self.solutions.get(question, ()))
        if not candidates:
            return "I do not know.\n#### 0"
        matching = [c for c in candidates if c.startswith(prefix)] or candidates
        return matching[seed % len(matching)]


def _parse_prompt(prompt: str) -> tuple[str, str]:
    """Return (question, solution prefix already in the prompt)."""
    block = prompt[prompt.rfind(QUESTION_MARK) + len(QUESTION_MARK):] if QUESTION_MARK in prompt else prompt
    if ANSWER_MARK in block:
        question, prefix = block.split(ANSWER_MARK, 1)
    else:
        question, prefix = block, ""
    return question.strip(), prefix
