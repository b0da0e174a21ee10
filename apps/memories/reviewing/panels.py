"""What the review decision page shows for a memory request: the item, its provenance, the
diff of an edit (or of a conflict's two texts), similar approved items, the edits made in
review; and the changelist's memory-type filter."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from pgvector.django import CosineDistance

from apps.memories.effectiveness_panel import effectiveness_context
from apps.memories.models import TIER_ORDER, MemoryItem, MemoryType, MemoryVersion, Status, Tier
from apps.memories.selectors import hnsw_scan_settings
from apps.memories.vector_indexes import indexed_workspaces
from apps.reviews.models import Kind, ReviewRequest
from apps.reviews.panels import side_by_side
from apps.signals.effectiveness import memory_effectiveness
from apps.workspaces.models import Workspace
from apps.workspaces.roles import Action

SIMILAR_LIMIT = 5


def similar_memories(
    user: Any,
    item: MemoryItem,
    limit: int = SIMILAR_LIMIT,
    *,
    min_similarity: float | None = None,
) -> list[Any]:
    """Existing approved items closest in meaning that the reviewer may see, at least
    `min_similarity` alike (default MEMORY_REVIEW_SIMILARITY_MIN; similarity = 1 - cosine
    distance, higher is closer): duplicates and contradictions to check before approving.
    Each row carries `.similarity` and `.admin_url`.

    The `limit` nearest come through the workspace's HNSW index where it has one (iterative
    scan, so the reviewer's scope can't starve it; an exact scan of a large workspace took
    ~940 ms at 1M memories), else an exact scan (`+ 0` keeps any index out); the threshold is
    applied to those rows here, not in SQL, so a page with nothing similar doesn't walk the
    index up to MEMORY_HNSW_MAX_SCAN_TUPLES looking for rows that aren't there. Nearest first,
    so this is exactly "the `limit` nearest above the threshold"."""
    if min_similarity is None:
        min_similarity = float(settings.MEMORY_REVIEW_SIMILARITY_MIN)
    distance = CosineDistance("embedding", item.embedding)
    rows = (
        MemoryItem.objects.visible_to(user, Action.VIEW)
        .filter(workspace_id=item.workspace_id, status=Status.APPROVED, deleted_at__isnull=True)
        .exclude(pk=item.pk)
        .annotate(distance=distance)
        .select_related("type", "team", "agent")
        .defer("embedding", "search")
    )
    nearest: list[Any]
    if item.workspace_id not in indexed_workspaces():
        nearest = list(rows.order_by(distance + 0, "id")[:limit])
    else:
        scan = hnsw_scan_settings(limit)
        with transaction.atomic(), connection.cursor() as cursor:
            # One round trip for the three SET LOCALs of the context path.
            calls = ", ".join("set_config(%s, %s, true)" for _ in scan)
            cursor.execute(f"SELECT {calls}", [part for item in scan.items() for part in item])
            nearest = list(rows.order_by(distance)[:limit])
    similar = []
    for other in nearest:
        other.similarity = 1.0 - float(other.distance)
        if other.similarity >= min_similarity:
            other.admin_url = reverse("admin:memories_memoryitem_change", args=[other.pk])
            similar.append(other)
    return similar


def memory_diff(obj: ReviewRequest, item: MemoryItem | None) -> dict[str, Any] | None:
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


def promotion_tiers(item: MemoryItem | None) -> list[str]:
    if item is None:
        return []
    return [
        tier for tier in (Tier.TEAM, Tier.WORKSPACE) if TIER_ORDER[tier] < TIER_ORDER[item.tier]
    ]


def memory_panel(http_request: HttpRequest, obj: ReviewRequest) -> dict[str, Any]:
    item = obj.memory
    return {
        "item": item,
        "item_url": reverse("admin:memories_memoryitem_change", args=[item.pk]) if item else None,
        "edit_text": item.content if item is not None else "",
        "similar": similar_memories(http_request.user, item) if item is not None else [],
        "similar_min": settings.MEMORY_REVIEW_SIMILARITY_MIN,
        "diff": memory_diff(obj, item),
        "pairs": list(obj.edit_pairs.select_related("edited_by").order_by("id")),
        "promotion_tiers": promotion_tiers(item),
        "trace_ids": (item.provenance or {}).get("trace_ids", []) if item else [],
        "effectiveness": promotion_effectiveness(obj, item),
        "evidence_links": evidence_links(item),
    }


def promotion_effectiveness(obj: ReviewRequest, item: MemoryItem | None) -> dict[str, Any] | None:
    """For a promotion: how the runs that used the memory in its current tier turned out
    (apps.signals.effectiveness; observational), the evidence a reviewer weighs before it
    reaches more agents. One query; None for the other kinds."""
    if obj.kind != Kind.PROMOTION or item is None:
        return None
    return effectiveness_context(memory_effectiveness(item))


EVIDENCE_KINDS = (
    ("signal_feedback", "feedback", "admin:signals_feedback_change"),
    ("signal_traces", "trace", "admin:signals_trace_change"),
    ("learning_candidate", "candidate", "admin:signals_learningcandidate_change"),
)
EVIDENCE_SHOWN = 20


def evidence_links(item: MemoryItem | None) -> list[tuple[str, str]]:
    """Links to the evidence a memory learned from signals names in its provenance (the
    learning candidate, its feedback and traces: apps.signals.learning), by admin URL name,
    so this app imports nothing of the signals app. The newest EVIDENCE_SHOWN of each kind."""
    provenance = (item.provenance or {}) if item is not None else {}
    links = []
    for key, label, url_name in EVIDENCE_KINDS:
        ids = provenance.get(key) or []
        for pk in ids[-EVIDENCE_SHOWN:] if isinstance(ids, list) else []:
            if isinstance(pk, int):
                try:
                    links.append((f"{label} #{pk}", reverse(url_name, args=[pk])))
                except NoReverseMatch:
                    break
    return links


class MemoryTypeFilter(admin.SimpleListFilter):
    title = "memory type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        workspaces = Workspace.objects.visible_to(request.user, Action.VIEW)
        types = MemoryType.objects.filter(workspace__in=workspaces)
        return sorted(set(types.values_list("key", "label")))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(memory__type__key=value)
