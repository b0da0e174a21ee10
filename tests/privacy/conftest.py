"""Shared helpers for the Django side of privacy: fresh policy caches, audit recording, and
raw PII samples that must never be found on disk."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.db.models import Max

from apps.audit.models import AuditEvent
from apps.privacy import keyring, policies

EMAIL = "dana.fox@example.com"
PHONE = "+1 415-555-0132"
CARD = "4111 1111 1111 1111"
RAW_PII = (EMAIL, PHONE, CARD, "4111111111111111", "4155550132")
PII_TEXT = f"Call {PHONE} or mail {EMAIL}; card {CARD}."


@pytest.fixture(autouse=True)
def fresh_privacy_caches() -> Iterator[None]:
    policies.clear_cache()
    keyring.masking_keys.cache_clear()
    yield
    policies.clear_cache()
    keyring.masking_keys.cache_clear()


@contextmanager
def recorded() -> Iterator[list[AuditEvent]]:
    """The audit events written inside the block, oldest first."""
    last = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    events: list[AuditEvent] = []
    yield events
    events.extend(AuditEvent.objects.filter(id__gt=last).order_by("id"))


def stored_audit_text(event_ids: list[int] | None = None) -> str:
    """Every audit row as PostgreSQL stores it (raw SQL: no ORM decoding in between)."""
    with connection.cursor() as cursor:
        if event_ids is None:
            cursor.execute("SELECT row_to_json(e)::text FROM audit_auditevent e ORDER BY id")
        else:
            cursor.execute(
                "SELECT row_to_json(e)::text FROM audit_auditevent e WHERE id = ANY(%s)",
                [event_ids],
            )
        return "\n".join(row[0] for row in cursor.fetchall())


def assert_no_raw_pii(text: str) -> None:
    for value in RAW_PII:
        assert value not in text, f"raw PII {value!r} found"


def actor_for(cast: Any, who: str) -> Any:
    if who == "agent":
        return cast.agent
    return cast.user(who)
