"""The OpenAI-compatible client against a fake /v1/embeddings server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.memories.embeddings.base import EmbeddingError
from apps.memories.embeddings.openai_compatible import OpenAICompatibleProvider, build

DIM = 8


def vector_for(text: str, dim: int = DIM) -> list[float]:
    """Deterministic and deliberately not normalised (Ollama does not always normalise)."""
    seed = sum(map(ord, text)) or 1
    return [float((seed * (i + 3)) % 17 + 1) for i in range(dim)]


@dataclass
class FakeServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # Each call pops the next behaviour; when empty, answer normally.
    script: list[Callable[[dict[str, Any]], tuple[int, Any, dict[str, str]]]] = field(
        default_factory=list
    )
    dim: int = DIM


def ok(server: FakeServer, payload: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    data = [
        {"object": "embedding", "index": i, "embedding": vector_for(text, server.dim)}
        for i, text in enumerate(payload["input"])
    ]
    data.reverse()  # servers may return any order; the client sorts by index
    return 200, {"object": "list", "data": data, "model": payload["model"]}, {}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state: FakeServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            if self.path != "/v1/embeddings":
                status, reply, extra = 404, {"error": {"message": "no such route"}}, {}
            elif state.script:
                status, reply, extra = state.script.pop(0)(body)
            else:
                status, reply, extra = ok(state, body)
            raw = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True  # keep-alive handler threads must not hold up the teardown
        block_on_close = False

    httpd = Server(("127.0.0.1", 0), Handler)
    state = FakeServer(url=f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def client(server: FakeServer, **kwargs: Any) -> tuple[OpenAICompatibleProvider, list[float]]:
    sleeps: list[float] = []
    options: dict[str, Any] = {
        "base_url": server.url,
        "model": "nomic-embed-text",
        "dimensions": DIM,
        "api_key": "sk-test-secret",
        "batch_size": 3,
        "timeout": 2,
        "max_retries": 2,
        "backoff_seconds": 0.01,
        "sleep": sleeps.append,
    }
    options.update(kwargs)
    return OpenAICompatibleProvider(**options), sleeps


def test_batches_keep_order_and_normalise(server: FakeServer) -> None:
    provider, _ = client(server)
    texts = [f"memory number {i}" for i in range(7)]
    vectors = provider.embed(texts)
    assert [len(r["input"]) for r in server.requests] == [3, 3, 1]
    assert [t for r in server.requests for t in r["input"]] == texts
    assert server.requests[0]["model"] == "nomic-embed-text"
    assert "dimensions" not in server.requests[0]
    assert server.headers[0]["Authorization"] == "Bearer sk-test-secret"
    for text, vector in zip(texts, vectors, strict=True):
        raw = vector_for(text)
        norm = math.sqrt(sum(x * x for x in raw))
        assert vector == pytest.approx([x / norm for x in raw])
    assert provider.embed([]) == []


def test_no_key_sends_no_authorization_and_dimensions_can_be_requested(
    server: FakeServer,
) -> None:
    provider, _ = client(server, api_key="", send_dimensions=True)
    provider.embed(["x"])
    assert "Authorization" not in server.headers[0]
    assert server.requests[0]["dimensions"] == DIM


def test_retries_on_503_then_succeeds(server: FakeServer) -> None:
    server.script = [lambda body: (503, {"error": {"message": "loading model"}}, {})]
    provider, sleeps = client(server)
    assert len(provider.embed(["a", "b"])) == 2
    assert len(server.requests) == 2
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 0.01


def test_retries_on_429_honouring_retry_after(server: FakeServer) -> None:
    server.script = [lambda body: (429, {"error": {"message": "slow down"}}, {"Retry-After": "2"})]
    provider, sleeps = client(server)
    provider.embed(["a"])
    assert sleeps == [2.0]


def test_fails_after_retries_with_the_last_error(server: FakeServer) -> None:
    server.script = [lambda body: (502, {"error": {"message": "bad gateway"}}, {})] * 3
    provider, sleeps = client(server, max_retries=2)
    with pytest.raises(EmbeddingError) as exc:
        provider.embed(["a"])
    message = str(exc.value)
    assert "failed 3 times" in message and "HTTP 502" in message and "bad gateway" in message
    assert "sk-test-secret" not in message
    assert len(server.requests) == 3
    assert len(sleeps) == 2 and sleeps[1] >= sleeps[0]  # exponential backoff


def test_timeouts_are_retried_then_reported(server: FakeServer) -> None:
    import time

    def slow(body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        time.sleep(0.5)
        return ok(server, body)

    server.script = [slow, slow]
    provider, sleeps = client(server, timeout=0.1, max_retries=1)
    with pytest.raises(EmbeddingError, match=r"failed 2 times; last: no answer within 0.1 s"):
        provider.embed(["a"])
    assert len(sleeps) == 1


def test_client_errors_are_not_retried(server: FakeServer) -> None:
    server.script = [lambda body: (401, {"error": {"message": "Incorrect API key"}}, {})]
    provider, sleeps = client(server)
    with pytest.raises(EmbeddingError) as exc:
        provider.embed(["a"])
    assert "HTTP 401" in str(exc.value) and "EMBEDDING_OPENAI_API_KEY" in str(exc.value)
    assert "sk-test-secret" not in str(exc.value)
    assert len(server.requests) == 1 and sleeps == []


def test_wrong_base_url_is_explained(server: FakeServer) -> None:
    provider, _ = client(server, base_url=server.url.removesuffix("/v1"))
    with pytest.raises(EmbeddingError, match=r"HTTP 404 \(check EMBEDDING_OPENAI_BASE_URL"):
        provider.embed(["a"])


@pytest.mark.parametrize(
    "reply",
    [
        {"object": "list"},
        {"data": [{"index": 0}]},
        {"data": [{"index": 0, "embedding": "nope"}]},
        {"data": []},
        [1, 2, 3],
        b"<html>proxy error</html>",
    ],
)
def test_bad_response_shape(server: FakeServer, reply: Any) -> None:
    server.script = [lambda body: (200, reply, {})]
    provider, sleeps = client(server)
    with pytest.raises(EmbeddingError, match="not an OpenAI embeddings response"):
        provider.embed(["a"])
    assert sleeps == []


def test_dimension_mismatch(server: FakeServer) -> None:
    server.dim = 12
    provider, _ = client(server)
    with pytest.raises(EmbeddingError) as exc:
        provider.embed(["a"])
    assert "returns 12-d vectors but EMBEDDING_DIMENSIONS=8" in str(exc.value)


def test_unreachable_host_fails_at_once() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAICompatibleProvider(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", dimensions=DIM, sleep=lambda s: None
    )
    with pytest.raises(EmbeddingError, match="Cannot connect"):
        provider.embed(["a"])


def test_build_reads_settings(settings: Any, server: FakeServer) -> None:
    settings.EMBEDDING_OPENAI_BASE_URL = None
    with pytest.raises(ImproperlyConfigured, match="EMBEDDING_OPENAI_BASE_URL"):
        build(DIM)
    settings.EMBEDDING_OPENAI_BASE_URL = server.url
    settings.EMBEDDING_OPENAI_MODEL = "text-embedding-3-small"
    settings.EMBEDDING_OPENAI_BATCH_SIZE = 2
    settings.EMBEDDING_OPENAI_API_KEY = "sk-x"
    provider = build(DIM)
    assert provider.name == "openai" and provider.dimensions == DIM
    assert "sk-x" not in repr(provider)
    provider.embed(["a", "b", "c"])
    assert [len(r["input"]) for r in server.requests] == [2, 1]
