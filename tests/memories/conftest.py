"""Fixtures shared by the memory tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.memories import vector_indexes


@pytest.fixture
def fresh_index_list() -> Iterator[None]:
    """indexed_workspaces() is cached per process; the fixtures build indexes behind its back."""
    vector_indexes._forget_indexes()
    yield
    vector_indexes._forget_indexes()
