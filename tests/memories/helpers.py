"""Shared by the memory tests: who acts, what changed, what the audit trail recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db.models import Max

from apps.audit.models import AuditEvent
from apps.core.exceptions import ServiceError
from apps.memories.models import (
    ContextAssembly,
    MemoryConflict,
    MemoryItem,
    MemoryType,
    MemoryVersion,
    WritePolicy,
)
from apps.workspaces.scopes import Scope
from tests.conftest import SYSTEM

ALL_WRITE = [
    Scope.MEMORIES_READ.value,
    Scope.MEMORIES_WRITE_PERSONAL.value,
    Scope.MEMORIES_WRITE_TEAM.value,
    Scope.MEMORIES_WRITE_WORKSPACE.value,
]
READ = [Scope.MEMORIES_READ.value]


def actor_for(cast: Any, who: str) -> Any:
    if who in {"agent", "agent_all_scopes"}:
        return cast.agent
    if who == "other_agent":
        return cast.other_agent
    if who == "system":
        return SYSTEM
    return cast.user(who)


def scopes_for(who: str) -> list[str] | None:
    """Agents act with their request token's scopes: the cast's default token, or all."""
    if who == "agent_all_scopes":
        return [*ALL_WRITE, Scope.DIRECTOR.value]
    if who in {"agent", "other_agent"}:
        return [Scope.MEMORIES_READ.value, Scope.MEMORIES_WRITE_PERSONAL.value]
    return None


@contextmanager
def recorded() -> Iterator[list[AuditEvent]]:
    """The audit events written inside the block, oldest first."""
    last = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    events: list[AuditEvent] = []
    yield events
    events.extend(AuditEvent.objects.filter(id__gt=last).order_by("id"))


def memory_state() -> dict[str, Any]:
    """Every memory row and the audit trail's size: equal before and after means no change."""
    state: dict[str, Any] = {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (MemoryConflict, MemoryVersion, MemoryType, WritePolicy, ContextAssembly)
    }
    state["MemoryItem"] = list(
        MemoryItem.objects.order_by("pk").values(
            *(f.attname for f in MemoryItem._meta.concrete_fields if f.name != "embedding")
        )
    )
    state["events"] = AuditEvent.objects.count()
    return state


def assert_refused(call: Callable[[], Any], error: type[ServiceError]) -> ServiceError:
    before = memory_state()
    with pytest.raises(error) as info:
        call()
    assert memory_state() == before
    return info.value
