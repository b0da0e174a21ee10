"""Fingerprints are linked by an explicit call from the services that save masked text
(apps.privacy.saved.masked_rows_saved), not by a post_save receiver: every registered model
gets its links through its service, and a rolled-back write links nothing later."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.db.models.signals import post_save

from apps.compliance.fingerprints import fingerprint_of
from apps.compliance.models import PiiFingerprint
from apps.memories import services as memories
from apps.memories.selectors import memories_for_context
from apps.privacy.saved import masked_rows_saved
from apps.reviews.models import ReviewRequest
from apps.reviews.services import review_reject
from apps.workspaces.models import Agent
from apps.workspaces.services import agent_create, agent_update
from tests.compliance.conftest import EMAIL
from tests.workspaces.factories import AgentFactory


def linked(cast: Any) -> set[tuple[str, int, str]]:
    """(model, object id, field) linked to the subject's e-mail."""
    fingerprint = fingerprint_of(cast.workspace.pk, "EMAIL", EMAIL)
    return set(
        PiiFingerprint.objects.filter(fingerprint=fingerprint).values_list(
            "model_label", "object_id", "field_name"
        )
    )


def test_no_post_save_receiver_links_fingerprints():
    assert not [key for key, *_ in post_save.receivers if "pii-fp" in str(key)]


def test_agents_are_linked_on_create_and_on_update(cast):
    agent = agent_create(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        name="Helper",
        slug="helper",
        description=f"Escalates to {EMAIL}",
    )
    other = AgentFactory(workspace=cast.workspace, slug="quiet")

    agent_update(actor=cast.user("owner"), agent=other, description=f"Backup of {EMAIL}")
    agent_update(actor=cast.user("owner"), agent=other, name="Quiet")

    assert linked(cast) == {
        ("workspaces.Agent", agent.pk, "description"),
        ("workspaces.Agent", other.pk, "description"),
    }


def test_memories_and_their_versions_are_linked_on_write_and_on_update(cast):
    owner = cast.user("owner")
    item = memories.memory_write(
        actor=owner,
        workspace=cast.workspace,
        content=f"Dana is {EMAIL}",
        type="fact",
        tier="workspace",
    ).item

    memories.memory_update(
        actor=owner, item=item, content=f"Dana ({EMAIL}) prefers calls", reason=f"{EMAIL} said"
    )

    versions = dict(item.versions.values_list("version", "pk"))
    assert linked(cast) == {
        ("memories.MemoryItem", item.pk, "content"),
        ("memories.MemoryVersion", versions[1], "content"),
        ("memories.MemoryVersion", versions[2], "content"),
        ("memories.MemoryVersion", versions[2], "reason"),
    }
    first = PiiFingerprint.objects.filter(model_label="memories.MemoryItem", object_id=item.pk)
    assert first.count() == 2  # written, then updated: one link per save of the content


def test_context_assemblies_and_review_decisions_are_linked(cast):
    result = memories_for_context(agent=cast.agent, task_text=f"Write to {EMAIL} about renewal")
    proposed = memories.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        content="Renewals need a call first.",
        type="fact",
        tier="personal",
        agent=cast.agent,
        token_scopes=["memories:write:personal"],
    ).item
    request = ReviewRequest.objects.get(memory=proposed, status="pending")

    review_reject(actor=cast.user("reviewer"), request=request, reason=f"Ask {EMAIL} first")

    assert linked(cast) == {
        ("memories.ContextAssembly", result.assembly_id, "task_text"),
        ("reviews.ReviewRequest", request.pk, "reason"),
    }


def test_a_rolled_back_write_links_no_later_row(cast):
    with pytest.raises(RuntimeError), transaction.atomic():
        agent_create(
            actor=cast.user("owner"),
            workspace=cast.workspace,
            name="Gone",
            slug="gone",
            description=f"Ask {EMAIL}",
        )
        raise RuntimeError("rolled back")
    stranger = AgentFactory(workspace=cast.workspace, slug="stranger", description="Ask <EMAIL_1>")

    masked_rows_saved(workspace_id=cast.workspace.pk, rows=[stranger])

    assert not Agent.objects.filter(slug="gone").exists()
    assert linked(cast) == set()


def test_rows_of_unregistered_models_and_empty_batches_are_ignored(cast):
    masked_rows_saved(workspace_id=cast.workspace.pk, rows=[])
    masked_rows_saved(workspace_id=cast.workspace.pk, rows=[cast.workspace])

    assert PiiFingerprint.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_context_assembly_outside_any_transaction_is_linked(cast):
    # Given no caller's transaction (as a web request): the task is masked inside the
    # assembly's own transaction, so the masking is remembered for the link
    result = memories_for_context(agent=cast.agent, task_text=f"Write to {EMAIL} about renewal")

    assert ("memories.ContextAssembly", result.assembly_id, "task_text") in linked(cast)
