"""An OpenAI-compatible /v1/embeddings client (OpenAI, Ollama, vLLM, LiteLLM, ...).

POST {base_url}/embeddings with {"model": ..., "input": [texts]} in batches of
EMBEDDING_OPENAI_BATCH_SIZE. Retried with exponential backoff (and jitter, honouring a numeric
Retry-After) only when a retry can help: HTTP 429, HTTP 5xx and timeouts. Anything else —
401/403, 400, 404, an unreachable host, a reply that is not the documented shape, vectors of
the wrong size — fails at once with an EmbeddingError that says what to fix. The API key is
sent as a bearer token and never appears in an error message.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.memories.embeddings.base import EmbeddingError
from apps.memories.embeddings.model2vec_provider import normalise_rows

MAX_BACKOFF_SECONDS = 30.0


def _public_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _error_detail(response: requests.Response) -> str:
    """The server's own error message when it sent one (OpenAI: {"error": {"message"}})."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:200]
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:200]
    return str(body)[:200]


class _Retryable(Exception):
    pass


class OpenAICompatibleProvider:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dimensions: int,
        api_key: str = "",
        batch_size: int = 96,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        send_dimensions: bool = False,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size < 1:
            raise ImproperlyConfigured("EMBEDDING_OPENAI_BATCH_SIZE must be at least 1.")
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.send_dimensions = send_dimensions
        self._api_key = api_key
        self._session = session or requests.Session()
        self._sleep = sleep

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleProvider(url={_public_url(self.url)!r}, model={self.model!r})"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed_batch(list(texts[start : start + self.batch_size])))
        return vectors

    # --- one batch, with retries ----------------------------------------------------------------
    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        payload: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "float"}
        if self.send_dimensions:
            payload["dimensions"] = self.dimensions
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        where = _public_url(self.url)
        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                response = self._session.post(
                    self.url, json=payload, headers=headers, timeout=self.timeout
                )
                if response.status_code == 429 or response.status_code >= 500:
                    last = f"HTTP {response.status_code}: {_error_detail(response)}"
                    retry_after = self._retry_after(response)
                    raise _Retryable
                if response.status_code >= 400:
                    raise EmbeddingError(self._client_error(response, where))
                return self._parse(response, len(batch), where)
            except _Retryable:
                pass
            except requests.Timeout:
                last = f"no answer within {self.timeout:g} s"
            except requests.ConnectionError as exc:
                raise EmbeddingError(
                    f"Cannot connect to the embedding endpoint {where}: {exc.__class__.__name__}. "
                    "Check EMBEDDING_OPENAI_BASE_URL and that the server is running."
                ) from None
            if attempt < self.max_retries:
                self._sleep(self._delay(attempt, retry_after))
        raise EmbeddingError(
            f"The embedding endpoint {where} failed {self.max_retries + 1} times; last: {last}."
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_BACKOFF_SECONDS)
        base = self.backoff_seconds * (2**attempt)
        return min(base * (0.5 + random.random() / 2), MAX_BACKOFF_SECONDS)  # noqa: S311

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After", "")
        try:
            return max(0.0, float(value))
        except ValueError:
            return None

    def _client_error(self, response: requests.Response, where: str) -> str:
        status = response.status_code
        detail = _error_detail(response)
        hint = {
            401: "check EMBEDDING_OPENAI_API_KEY",
            403: "the key may not use this model",
            404: f"check EMBEDDING_OPENAI_BASE_URL (ends in /v1?) and the model {self.model!r}",
        }.get(status, "the request was refused; see the server's message")
        return f"The embedding endpoint {where} answered HTTP {status} ({hint}): {detail}"

    def _parse(self, response: requests.Response, count: int, where: str) -> list[list[float]]:
        try:
            body = response.json()
            data = body["data"]
            if not isinstance(data, list) or len(data) != count:
                raise ValueError(f"expected {count} items in 'data'")
            rows = sorted(data, key=lambda item: int(item.get("index", 0)))
            vectors = [[float(x) for x in item["embedding"]] for item in rows]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbeddingError(
                f"The embedding endpoint {where} sent a reply that is not an OpenAI embeddings "
                f"response ({exc}); is it an OpenAI-compatible /v1 endpoint?"
            ) from None
        for vector in vectors:
            if len(vector) != self.dimensions:
                raise EmbeddingError(
                    f"The model {self.model!r} at {where} returns {len(vector)}-d vectors but "
                    f"EMBEDDING_DIMENSIONS={self.dimensions}. Set EMBEDDING_DIMENSIONS to "
                    f"{len(vector)} (migrate the column and run `manage.py reembed`), or pick a "
                    "model of that size (OpenAI text-embedding-3-*: also set "
                    "EMBEDDING_OPENAI_SEND_DIMENSIONS=true)."
                )
        return normalise_rows(vectors)


def build(dimensions: int) -> OpenAICompatibleProvider:
    base_url = getattr(settings, "EMBEDDING_OPENAI_BASE_URL", None)
    if not base_url:
        raise ImproperlyConfigured(
            "EMBEDDING_PROVIDER=openai needs EMBEDDING_OPENAI_BASE_URL (e.g. "
            "https://api.openai.com/v1 or http://localhost:11434/v1 for Ollama)."
        )
    return OpenAICompatibleProvider(
        base_url=base_url,
        model=str(getattr(settings, "EMBEDDING_OPENAI_MODEL", "text-embedding-3-small")),
        dimensions=dimensions,
        api_key=str(getattr(settings, "EMBEDDING_OPENAI_API_KEY", "")),
        batch_size=int(getattr(settings, "EMBEDDING_OPENAI_BATCH_SIZE", 96)),
        timeout=float(getattr(settings, "EMBEDDING_OPENAI_TIMEOUT_SECONDS", 30)),
        max_retries=int(getattr(settings, "EMBEDDING_OPENAI_MAX_RETRIES", 4)),
        backoff_seconds=int(getattr(settings, "EMBEDDING_OPENAI_BACKOFF_MS", 500)) / 1000,
        send_dimensions=bool(getattr(settings, "EMBEDDING_OPENAI_SEND_DIMENSIONS", False)),
    )
