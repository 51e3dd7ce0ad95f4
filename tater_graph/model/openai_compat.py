"""A backend for OpenAI-compatible completion servers (llama.cpp's
``llama-server``, vLLM, and others that serve ``POST /v1/completions``).

This is how generation moves off the search machine: the search loop and
the graph stay local, and the server does the sampling. Plain completions
are used (not chat), as base models need. Token counts come from the
response's ``usage`` block; a server that omits it is rejected.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

from tater_graph.errors import ContextOverflowError, ModelError
from tater_graph.model.base import GenerationRequest
from tater_graph.records import Generation

logger = logging.getLogger(__name__)


class OpenAICompatibleBackend:
    """Calls ``{base_url}/completions`` of an OpenAI-compatible server.

    Args:
        base_url: server root including the API prefix, e.g. ``http://127.0.0.1:8080/v1``.
        model: the model name the server expects.
        n_ctx: context window, used to reject over-long requests before the call.
        timeout: seconds to wait for one response.
        retries: extra attempts after a connection error or a 5xx response.
        api_key: sent as a bearer token when given.
    """

    def __init__(self, base_url: str, model: str, n_ctx: int = 4096, timeout: float = 120.0, retries: int = 2,
                 api_key: str | None = None):
        self.url = base_url.rstrip("/") + "/completions"
        self.name = model
        self.n_ctx = n_ctx
        self.timeout = timeout
        self.retries = retries
        self._api_key = api_key

    def count_tokens(self, text: str) -> int:
        # NOTE: an estimate (4 characters a token, the usual English average); the
        # server's own usage block gives the exact counts recorded per call.
        return max(1, len(text) // 4)

    def generate(self, request: GenerationRequest) -> Generation:
        estimate = self.count_tokens(request.prompt)
        if estimate + request.max_tokens > self.n_ctx:
            raise ContextOverflowError(
                f"prompt of about {estimate} tokens plus a budget of {request.max_tokens} exceeds the "
                f"{self.n_ctx}-token context of {self.name}: shorten the prompt or lower max_tokens"
            )
        body = {
            "model": self.name, "prompt": request.prompt, "max_tokens": request.max_tokens,
            "temperature": request.temperature, "top_p": request.top_p, "seed": request.seed,
            "stop": list(request.stop) or None,
        }
        started = time.perf_counter()
        reply = self._post(body)
        try:
            choice = reply["choices"][0]
            usage = reply["usage"]
            return Generation(
                text=choice["text"], prompt_tokens=int(usage["prompt_tokens"]),
                generated_tokens=int(usage["completion_tokens"]), finish_reason=choice.get("finish_reason") or "stop",
                wall_seconds=time.perf_counter() - started,
            )
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ModelError(f"invalid completion response from {self.url}: missing {error} "
                             "(the server must return choices[0].text and usage)") from error

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    detail = error.read().decode("utf-8", "replace")[:300]
                    raise ModelError(f"completion request to {self.url} failed with HTTP {error.code}: {detail}") from error
                last_error = error
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                last_error = error
            except json.JSONDecodeError as error:
                raise ModelError(f"completion response from {self.url} is not JSON: {error}") from error
            logger.warning("completion request to %s failed (attempt %d of %d): %s",
                           self.url, attempt + 1, self.retries + 1, last_error)
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise ModelError(f"completion request to {self.url} failed after {self.retries + 1} attempts: {last_error}")
