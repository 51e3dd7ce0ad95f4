"""The OpenAI-compatible backend against a completion server on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tater_graph.errors import ContextOverflowError, ModelError
from tater_graph.model.base import GenerationRequest
from tater_graph.model.openai_compat import OpenAICompatibleBackend


class CompletionHandler(BaseHTTPRequestHandler):
    requests: list = []
    failures_left = 0
    reply_override = None

    def do_POST(self):  # noqa: N802 (http.server names)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self.send_error(503, "busy")
            return
        reply = type(self).reply_override or {
            "choices": [{"text": f"echo {body['seed']}", "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 2},
        }
        payload = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    CompletionHandler.requests = []
    CompletionHandler.failures_left = 0
    CompletionHandler.reply_override = None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), CompletionHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_completion_and_usage_counts(server):
    backend = OpenAICompatibleBackend(server, "tiny", retries=0)
    result = backend.generate(GenerationRequest("Question: 1+1?\nAnswer:\n", max_tokens=8, seed=5, stop=("\n\n",)))
    assert result.text == "echo 5"
    assert result.prompt_tokens == 11
    assert result.generated_tokens == 2
    sent = CompletionHandler.requests[0]
    assert sent["model"] == "tiny"
    assert sent["stop"] == ["\n\n"]
    assert sent["max_tokens"] == 8


def test_server_errors_are_retried(server):
    CompletionHandler.failures_left = 2
    backend = OpenAICompatibleBackend(server, "tiny", retries=2)
    assert backend.generate(GenerationRequest("p", max_tokens=4)).text == "echo 0"
    assert len(CompletionHandler.requests) == 3


def test_retries_exhausted_raise_model_error(server):
    CompletionHandler.failures_left = 5
    backend = OpenAICompatibleBackend(server, "tiny", retries=1)
    with pytest.raises(ModelError, match="failed after 2 attempts"):
        backend.generate(GenerationRequest("p", max_tokens=4))


def test_response_without_usage_is_rejected(server):
    CompletionHandler.reply_override = {"choices": [{"text": "x"}]}
    with pytest.raises(ModelError, match="usage"):
        OpenAICompatibleBackend(server, "tiny", retries=0).generate(GenerationRequest("p", max_tokens=4))


def test_over_long_prompt_rejected_before_call(server):
    backend = OpenAICompatibleBackend(server, "tiny", n_ctx=64)
    with pytest.raises(ContextOverflowError, match="64-token context"):
        backend.generate(GenerationRequest("word " * 100, max_tokens=16))
    assert CompletionHandler.requests == []


def test_unreachable_server_is_a_model_error():
    backend = OpenAICompatibleBackend("http://127.0.0.1:9/v1", "tiny", retries=0, timeout=2)
    with pytest.raises(ModelError, match="failed after 1 attempts"):
        backend.generate(GenerationRequest("p", max_tokens=4))
