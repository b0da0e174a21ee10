"""The demo seeds memories of every kind, once."""

from __future__ import annotations

from apps.core.demo import seed_demo
from apps.memories.models import ConflictStatus, MemoryConflict, MemoryItem, Status


def test_demo_memories_cover_tiers_statuses_coaching_and_a_conflict(db):
    seed_demo(month_days=0)  # the month of memories: tests/core/test_demo_month.py
    counts = MemoryItem.objects.count()
    seed_demo(month_days=0)  # a second run adds nothing

    assert MemoryItem.objects.count() == counts
    acme = MemoryItem.objects.filter(workspace__slug="acme")
    approved = acme.filter(status=Status.APPROVED)
    assert set(approved.values_list("tier", flat=True)) == {"workspace", "team", "personal"}
    assert acme.filter(status=Status.PROPOSED).count() >= 2
    coaching = acme.get(type__key="coaching")
    assert (coaching.status, coaching.agent.slug, coaching.importance) == (
        "approved",
        "sdr-bot",
        0.9,
    )
    conflict = MemoryConflict.objects.get(workspace__slug="acme")
    assert conflict.status == ConflictStatus.OPEN
    assert "14" in conflict.existing.content and "30" in conflict.proposed.content
    assert MemoryItem.objects.filter(workspace__slug="globex", status=Status.APPROVED).count() == 3
