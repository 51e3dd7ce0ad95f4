"""The protocol every model backend implements.

A backend turns a plain-text prompt into a completion and reports exact
token counts. Search code depends only on this protocol, so the local
llama.cpp model, a replay of recorded rollouts, an OpenAI-compatible server
or a deterministic fake can stand in for each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tater_graph.errors import ConfigError
from tater_graph.records import Generation


@dataclass(frozen=True)
class GenerationRequest:
    """One completion request.

    Attributes:
        prompt: plain text; base models get it as is (no chat template).
        max_tokens: generation budget in tokens.
        temperature: 0 for greedy decoding.
        top_p: nucleus sampling mass.
        seed: sampler seed; the same request and seed give the same text.
        stop: strings that end generation (not included in the output).
    """

    prompt: str
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigError(f"invalid max_tokens {self.max_tokens}: it must be at least 1")
        if self.temperature < 0:
            raise ConfigError(f"invalid temperature {self.temperature}: it must be 0 or more")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"invalid top_p {self.top_p}: it must be in (0, 1]")


@runtime_checkable
class ModelBackend(Protocol):
    """Generates completions and counts tokens."""

    name: str
    n_ctx: int

    def count_tokens(self, text: str) -> int:
        """Return the number of tokens ``text`` encodes to (without BOS)."""
        ...

    def generate(self, request: GenerationRequest) -> Generation:
        """Return the completion of ``request.prompt``.

        Raises:
            ContextOverflowError: prompt tokens plus ``max_tokens`` exceed ``n_ctx``.
            ModelError: the backend failed.
        """
        ...


@runtime_checkable
class TokenLogprobs(Protocol):
    """Scores given text under the model: what log-probability scorers need from a backend."""

    def continuation_logprobs(self, prompt: str, continuation: str) -> list[float]:
        """Return the natural-log probability of each token of ``continuation`` after ``prompt``.

        Token boundaries are the backend's own; an empty continuation gives an empty list.

        Raises:
            ContextOverflowError: prompt plus continuation exceed ``n_ctx``.
            ModelError: the backend failed.
        """
        ...
