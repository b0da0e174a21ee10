"""Audit events never keep a data subject's hash or encrypted tokens, whatever the workspace's
operators: they are stored as numbered placeholders (the trail is append-only, so erasure
could never scrub them), and the hash chain, computed on what is stored, still verifies."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection, transaction

from apps.audit.chain import audit_chain_verify
from apps.audit.models import AuditEvent
from apps.audit.services import audit_event_record
from apps.memories import services as memories
from apps.memories.models import MemoryItem
from apps.privacy import keyring, policies
from apps.privacy.engine import EntityType, keyed_hash_token
from apps.privacy.engine.keys import encrypt_token
from apps.privacy.engine.unlink import LINKABLE_TOKEN
from apps.privacy.keyring import masking_keys
from apps.privacy.services import privacy_policy_update
from tests.conftest import SYSTEM
from tests.workspaces.factories import UserFactory

EMAIL = "dana.fox@example.com"
PHONE = "+1 415-555-0132"
OPERATORS = [
    {"EMAIL": "hash", "PHONE": "hash"},
    {"EMAIL": "encrypt", "PHONE": "encrypt"},
    {"EMAIL": "hash", "PHONE": "encrypt"},
]
OPERATOR_IDS = ["hash", "encrypt", "mixed"]


@pytest.fixture(autouse=True)
def fresh_privacy_caches() -> Any:
    policies.clear_cache()
    keyring.masking_keys.cache_clear()
    yield
    policies.clear_cache()
    keyring.masking_keys.cache_clear()


def stored_text(event: AuditEvent) -> str:
    """Every column of the stored row as PostgreSQL prints it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM audit_auditevent t WHERE id = %s", [event.pk])
        return str(cursor.fetchone()[0])


def all_events_text(workspace_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t::text FROM audit_auditevent t WHERE workspace_id = %s", [workspace_id]
        )
        return "\n".join(row[0] for row in cursor.fetchall())


def chains_intact() -> bool:
    return all(result.ok for result in audit_chain_verify())


@pytest.mark.parametrize("operators", OPERATORS, ids=OPERATOR_IDS)
def test_raw_values_in_an_event_are_stored_as_placeholders_only(cast, operators):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    person = UserFactory(username=EMAIL)

    with transaction.atomic():
        event = audit_event_record(
            actor=person,
            action="test.pii",
            obj=cast.agent,
            workspace_id=cast.workspace.pk,
            before={"note": f"Mail {EMAIL}, call {PHONE}"},
            after={"note": f"Mail {EMAIL.upper()} only", EMAIL: True},
            reason=f"asked by {PHONE}",
        )

    event.refresh_from_db()
    text = stored_text(event)
    assert not LINKABLE_TOKEN.search(text) and "<ENC:" not in text
    assert EMAIL not in text.lower() and "555-0132" not in text
    email = re.search(r"<EMAIL_\d+>", event.before["note"]).group(0)  # type: ignore[union-attr]
    assert event.before == {"note": f"Mail {email}, call <PHONE_1>"}
    assert event.after == {"note": f"Mail {email} only", email: True}
    assert event.reason == "asked by <PHONE_1>"
    assert event.actor_label == email
    assert chains_intact()


@pytest.mark.parametrize("operators", OPERATORS, ids=OPERATOR_IDS)
def test_masked_content_copied_into_an_event_loses_its_tokens(cast, operators):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    owner = cast.user("owner")

    item = memories.memory_write(
        actor=owner,
        workspace=cast.workspace,
        content=f"Dana prefers calls on {PHONE}; mail {EMAIL} for contracts.",
        type="preference",
        tier="workspace",
    ).item
    memories.memory_update(
        actor=owner, item=item, content=f"Dana ({EMAIL}) prefers calls.", reason=f"{EMAIL} asked"
    )

    stored = MemoryItem.objects.get(pk=item.pk).content
    assert LINKABLE_TOKEN.search(stored)  # the memory itself keeps the policy's tokens
    events = AuditEvent.objects.filter(workspace_id=cast.workspace.pk, object_id=str(item.pk))
    assert {e.action for e in events} >= {"memory.write", "memory.update"}
    text = all_events_text(cast.workspace.pk)
    assert not LINKABLE_TOKEN.search(text) and "<ENC:" not in text
    assert EMAIL not in text.lower()
    update = events.get(action="memory.update")
    assert update.before["content"].count("<EMAIL_") == 1
    assert update.after["content"].count("<EMAIL_") == 1
    assert chains_intact()


def test_the_same_address_keeps_its_number_across_before_and_after(cast):
    keys = masking_keys()
    hashed = keyed_hash_token(EntityType.EMAIL, EMAIL, keys.hash_key or b"", 16)
    first, second = (encrypt_token(EntityType.PHONE, PHONE, keys) for _ in range(2))

    with transaction.atomic():
        event = audit_event_record(
            actor=SYSTEM,
            action="test.copy",
            workspace_id=cast.workspace.pk,
            before={"content": f"<EMAIL_1> and {hashed} at {first}"},
            after={"content": f"{hashed} at {second}", "other": "<EMAIL_3>"},
        )

    assert first != second
    assert event.before == {"content": "<EMAIL_1> and <EMAIL_4> at <PHONE_1>"}
    assert event.after == {"content": "<EMAIL_4> at <PHONE_1>", "other": "<EMAIL_3>"}
    assert chains_intact()


def test_an_event_without_tokens_is_stored_as_given(cast):
    after = {"html": "<b>bold</b> a < b", "placeholders": ["<EMAIL_1>", "<REDACTED>"], "n": 1.5}

    with transaction.atomic():
        event = audit_event_record(
            actor=SYSTEM, action="test.plain", workspace_id=cast.workspace.pk, after=after
        )

    event.refresh_from_db()
    assert event.after == after
    assert chains_intact()


def test_events_of_no_workspace_are_unlinked_too(db):
    keys = masking_keys()
    hashed = keyed_hash_token(EntityType.EMAIL, EMAIL, keys.hash_key or b"", 16)

    with transaction.atomic():
        event = audit_event_record(actor=SYSTEM, action="test.global", after={"who": hashed})

    assert event.after == {"who": "<EMAIL_1>"}
    assert chains_intact()


def test_a_large_event_is_recorded_and_verifies(cast):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=OPERATORS[0])
    keys = masking_keys()
    tokens = [
        keyed_hash_token(EntityType.EMAIL, f"user{i}@example.com", keys.hash_key or b"", 16)
        for i in range(500)
    ]

    with transaction.atomic():
        event = audit_event_record(
            actor=SYSTEM,
            action="test.large",
            workspace_id=cast.workspace.pk,
            before={"content": " <i>x</i> ".join(tokens), "plain": "y" * 200_000},
            after={"ids": list(range(5000))},
        )

    event.refresh_from_db()
    assert not LINKABLE_TOKEN.search(event.before["content"])
    assert "<EMAIL_500>" in event.before["content"]
    assert event.after == {"ids": list(range(5000))}
    assert chains_intact()
