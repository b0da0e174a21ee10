"""What the decision page shows beside the item: provenance, similar items, the diff of an
edit (or of a conflict's two texts), and the next / previous request of the queue."""

from __future__ import annotations

import difflib
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from apps.memories.models import TIER_ORDER, MemoryItem, MemoryVersion, Tier
from apps.reviews.models import Kind, ReviewRequest, ReviewSettings
from apps.reviews.selectors import neighbours, similar_memories
from apps.reviews.services.common import review_settings_for

DECISIONS_BY_KIND: dict[str, list[str]] = {
    Kind.MEMORY: [
        "approve",
        "edit_approve",
        "edit",
        "reject",
        "request_changes",
        "expire",
        "promote",
    ],
    Kind.EDIT: [
        "approve",
        "edit_approve",
        "edit",
        "reject",
        "request_changes",
        "expire",
        "promote",
    ],
    Kind.CONFLICT: ["approve", "merge", "edit", "reject", "request_changes", "expire"],
    Kind.PROMOTION: ["approve", "reject", "request_changes"],
}


def side_by_side(old: str, new: str) -> list[dict[str, str]]:
    """Word-level opcodes for a two-column diff: each part is equal, removed or added."""
    before, after = old.split(), new.split()
    parts: list[dict[str, str]] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(
                {"op": "equal", "old": " ".join(before[i1:i2]), "new": " ".join(after[j1:j2])}
            )
            continue
        parts.append(
            {"op": "change", "old": " ".join(before[i1:i2]), "new": " ".join(after[j1:j2])}
        )
    return parts


def _diff(obj: ReviewRequest, item: MemoryItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    if obj.kind == Kind.CONFLICT and obj.conflict is not None:
        existing = obj.conflict.existing
        return {
            "old_label": f"Existing #{existing.pk} ({existing.status})",
            "new_label": f"Proposed #{item.pk}",
            "parts": side_by_side(existing.content, item.content),
        }
    base = obj.details.get("base_version")
    if obj.kind == Kind.EDIT and base:
        old = MemoryVersion.objects.filter(item=item, version=base).first()
        if old is not None:
            return {
                "old_label": f"v{base} (before the agent's edit)",
                "new_label": f"v{item.version} (proposed)",
                "parts": side_by_side(old.content, item.content),
            }
    if item.version <= 1:
        return None  # never edited: nothing to compare
    first = MemoryVersion.objects.filter(item=item, version=1).first()
    if first is not None:
        return {
            "old_label": "v1 (as proposed)",
            "new_label": f"v{item.version} (now)",
            "parts": side_by_side(first.content, item.content),
        }
    return None


def _settings_of(obj: ReviewRequest) -> ReviewSettings:
    """The workspace's settings as fetched with the request (the decision page selects them
    along), else read or created with the defaults."""
    try:
        return obj.workspace.review_settings
    except ObjectDoesNotExist:
        return review_settings_for(obj.workspace_id)


def _promotion_tiers(item: MemoryItem | None) -> list[str]:
    if item is None:
        return []
    return [
        tier for tier in (Tier.TEAM, Tier.WORKSPACE) if TIER_ORDER[tier] < TIER_ORDER[item.tier]
    ]


def _url(pk: int | None) -> str | None:
    return reverse("admin:reviews_reviewrequest_change", args=[pk]) if pk else None


def decision_context(
    request: HttpRequest, obj: ReviewRequest, queue: QuerySet[Any]
) -> dict[str, Any]:
    item = obj.memory
    previous, following = neighbours(queue, obj)
    settings = _settings_of(obj)
    return {
        "review": obj,
        "item": item,
        "item_url": reverse("admin:memories_memoryitem_change", args=[item.pk]) if item else None,
        "similar": similar_memories(request.user, item) if item is not None else [],
        "diff": _diff(obj, item),
        "pairs": list(obj.edit_pairs.select_related("edited_by").order_by("id")),
        "decisions": DECISIONS_BY_KIND.get(obj.kind, []),
        "promotion_tiers": _promotion_tiers(item),
        "four_eyes": obj.tier in settings.four_eyes_tiers,
        "overdue": bool(getattr(obj, "overdue", False)),
        "previous_url": _url(previous),
        "next_url": _url(following),
        "trace_ids": (item.provenance or {}).get("trace_ids", []) if item else [],
    }
