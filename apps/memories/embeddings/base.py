"""The embedding provider interface every provider implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from django.core.exceptions import ImproperlyConfigured


@runtime_checkable
class EmbeddingProvider(Protocol):
    """Turns texts into L2-normalised vectors of `dimensions` floats.

    `dimensions` must equal settings.EMBEDDING_DIMENSIONS: the column is sized by it, and a
    provider of another native size refuses to start rather than pad or truncate silently.
    """

    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbeddingError(RuntimeError):
    """The provider failed for these texts (network, model); the write is refused, not stored."""


def check_dimensions(provider: EmbeddingProvider, expected: int) -> None:
    if provider.dimensions != expected:
        raise ImproperlyConfigured(
            f"Embedding provider {provider.name!r} returns {provider.dimensions}-d vectors but "
            f"EMBEDDING_DIMENSIONS={expected}. Set EMBEDDING_DIMENSIONS to match (new migration "
            "and `manage.py reembed`) or choose another provider."
        )
