"""Person names: an optional detector behind a backend interface.

No backend ships with Steward. Name recognition needs a statistical model, and the maintained
ones (spaCy pipelines, Flair, GLiNER) either download weights from a model hub at run time or
publish their model packages outside PyPI, which a self-hosted install cannot rely on. Until a
backend with a clear licence installs from PyPI, enabling PERSON without passing a backend is a
configuration error rather than a silent no-op or a fake word-list matcher.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from apps.privacy.engine.entities import EntityType, Finding
from apps.privacy.engine.errors import PIIConfigError

NAMES_UNAVAILABLE = (
    "the PERSON (names) detector is enabled but no name backend is configured: Steward ships "
    "none. Remove EntityType.PERSON from MaskingPolicy.entities, or pass an object implementing "
    "apps.privacy.engine.NameBackend as name_backend="
)


class NameBackend(Protocol):
    """A named-entity recogniser that returns (start, end, confidence) for each person name."""

    name: str

    def find_names(self, text: str) -> Iterable[tuple[int, int, float]]: ...


def require_backend(backend: NameBackend | None) -> NameBackend:
    if backend is None:
        raise PIIConfigError(NAMES_UNAVAILABLE)
    return backend


def detect_names(text: str, backend: NameBackend) -> Iterator[Finding]:
    for start, end, confidence in backend.find_names(text):
        value = text[start:end]
        normalized = " ".join(value.split()).casefold()
        yield Finding(
            EntityType.PERSON, start, end, value, confidence, f"names:{backend.name}", normalized
        )
