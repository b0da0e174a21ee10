"""Embedding providers behind one interface, chosen by settings.EMBEDDING_PROVIDER.

`PROVIDERS` maps a short name to "module:factory"; the factory takes the configured dimension
and returns an EmbeddingProvider. EMBEDDING_PROVIDER may also be a "module:factory" path of
its own. The instance is cached per process; changing the setting (tests) clears the cache.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.memories.embeddings.base import EmbeddingError, EmbeddingProvider, check_dimensions
from apps.privacy.engine import typed_placeholders

PROVIDERS: dict[str, str] = {
    "hashing": "apps.memories.embeddings.hashing:build",
    "model2vec": "apps.memories.embeddings.model2vec_provider:build",
    "sentence-transformers": "apps.memories.embeddings.sentence_transformers_provider:build",
    "openai": "apps.memories.embeddings.openai_compatible:build",
}

__all__ = [
    "PROVIDERS",
    "EmbeddingError",
    "EmbeddingProvider",
    "current_embedder",
    "embed_texts",
    "embedding_inputs",
    "get_provider",
]
EMBEDDER_MAX_CHARS = 120


def _factory(name: str) -> Any:
    target = PROVIDERS.get(name, name)
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise ImproperlyConfigured(
            f"EMBEDDING_PROVIDER={name!r} is unknown; use one of {', '.join(PROVIDERS)} "
            "or a 'module:factory' path."
        )
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(
            f"Embedding provider {name!r} can't be loaded ({exc}); is its extra installed?"
        ) from exc


@functools.cache
def get_provider() -> EmbeddingProvider:
    """The configured provider, built once per process and checked against the column size."""
    dimensions = int(settings.EMBEDDING_DIMENSIONS)
    provider: EmbeddingProvider = _factory(settings.EMBEDDING_PROVIDER)(dimensions)
    check_dimensions(provider, dimensions)
    return provider


def embedding_inputs(texts: Sequence[str]) -> list[str]:
    """What is embedded for stored (masked) texts: mask tokens reduced to their entity type
    (`<EMAIL>`), so a memory's vector depends on what it says, not on an encrypted token's
    random nonce or a placeholder's number. Every path that embeds goes through here."""
    return [typed_placeholders(text) for text in texts]


def embed_texts(texts: Sequence[str]) -> list[list[float]]:
    """Embed with the configured provider; any provider failure becomes an EmbeddingError."""
    if not texts:
        return []
    try:
        vectors = get_provider().embed(embedding_inputs(texts))
    except EmbeddingError:
        raise
    except Exception as exc:  # a provider's own errors (HTTP, model) must not leak as a 500
        raise EmbeddingError(f"The embedding provider failed: {exc}") from exc
    if len(vectors) != len(texts):
        raise EmbeddingError("The embedding provider returned a wrong number of vectors.")
    return vectors


def current_embedder() -> str:
    """Which embedder makes new vectors: provider / model / size, e.g.
    "model2vec/potion-base-8M/256d". Every MemoryItem records it beside its vector
    (MemoryItem.embedder); vectors of two embedders are not comparable, so context refuses a
    workspace that mixes them (apps.memories.embeddings.consistency) until `manage.py reembed`
    has finished. Read from the settings alone: no model is loaded to name it."""
    name = str(settings.EMBEDDING_PROVIDER)
    dims = int(settings.EMBEDDING_DIMENSIONS)
    model = ""
    if name == "model2vec":
        from apps.memories.embeddings.model2vec_provider import model_label

        model = model_label(
            str(getattr(settings, "EMBEDDING_MODEL2VEC_PATH", "") or ""),
            str(getattr(settings, "EMBEDDING_MODEL2VEC_PACKAGE", "") or ""),
        )
    elif name == "sentence-transformers":
        path = str(getattr(settings, "EMBEDDING_ST_MODEL_PATH", "") or "")
        model = Path(path).expanduser().name if path else "all-MiniLM-L6-v2"
    elif name == "openai":
        model = str(getattr(settings, "EMBEDDING_OPENAI_MODEL", ""))
    identity = "/".join(part for part in (name, model, f"{dims}d") if part)
    return identity[:EMBEDDER_MAX_CHARS]
