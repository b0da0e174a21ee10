"""Reads for the memory console: what is in an agent's, a team's or a workspace's brain, and
the retrieval history of one item ("why was this used").

Every read starts from `MemoryItem.objects.visible_to(user, "view")`, so a console page never
shows more than the memory list would. Lists are keyset-paged by id (`?before=<id>`): no
OFFSET and no COUNT over a big table; the counts a page shows come from the grouped summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from django.db.models import Count, Q, QuerySet

from apps.memories.models import (
    TIER_ORDER,
    ContextAssemblyItem,
    MemoryItem,
    Tier,
    readable_by_agent,
)
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.roles import Action

HEAVY = ("embedding", "search")  # never printed; a 384-d vector per row is most of the bytes
ScopeKind = Literal["agent", "team", "workspace"]
SCOPE_MODELS: dict[str, type[Agent] | type[Team] | type[Workspace]] = {
    "agent": Agent,
    "team": Team,
    "workspace": Workspace,
}


@dataclass(frozen=True)
class BrainScope:
    kind: ScopeKind
    target: Agent | Team | Workspace

    @property
    def workspace_id(self) -> int:
        target = self.target
        return int(target.pk if isinstance(target, Workspace) else target.workspace_id)

    @cached_property
    def where(self) -> Q:
        """An agent's brain is what its context reads (workspace, own team, own personal
        tier); a team's is the team tier and its agents' personal tiers; a workspace's is
        everything in it. Built once per scope (a page filters twice: summary and list)."""
        target = self.target
        if isinstance(target, Agent):
            return readable_by_agent(target)
        if isinstance(target, Team):
            # The team's agents by id, not through a join: each arm is then a range of the
            # memory_context_live index (personal rows have no team).
            agents = list(Agent.objects.filter(team_id=target.pk).values_list("pk", flat=True))
            return Q(tier=Tier.TEAM, team_id=target.pk) | Q(
                tier=Tier.PERSONAL, team_id__isnull=True, agent_id__in=agents
            )
        return Q()


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_before: int | None


def brain_scope_for(user: Any, kind: str, pk: int) -> BrainScope | None:
    """The agent, team or workspace the person sees, or None (unknown, other workspace)."""
    model = SCOPE_MODELS.get(kind)
    if model is None:
        return None
    target = model.objects.visible_to(user, Action.VIEW).filter(pk=pk).first()
    return None if target is None else BrainScope(kind=kind, target=target)  # type: ignore[arg-type]


def brain_items(
    user: Any, scope: BrainScope, *, type_key: str = "", tier: str = ""
) -> QuerySet[MemoryItem]:
    """Approved, in-force, not forgotten items of the brain that the person may see."""
    items = (
        MemoryItem.objects.visible_to(user, Action.VIEW)
        .live()
        .filter(scope.where, workspace_id=scope.workspace_id)
    )
    if type_key:
        items = items.filter(type__key=type_key)
    if tier:
        items = items.filter(tier=tier)
    return items


def brain_summary(items: QuerySet[MemoryItem]) -> list[dict[str, Any]]:
    """Counts by tier and type, tiers in context order (workspace, team, personal)."""
    rows: list[dict[str, Any]] = [
        dict(row)
        # COUNT(*), not COUNT(id): every column read is in memory_context_live, so the
        # database counts from the index alone (bench/admin: 570 ms -> see docs/benchmarks.md)
        for row in items.values("tier", "type__key", "type__label").annotate(count=Count("*"))
    ]
    return sorted(rows, key=lambda r: (TIER_ORDER.get(r["tier"], 9), r["type__label"]))


def brain_page(items: QuerySet[MemoryItem], *, before: int | None, size: int) -> Page:
    """Newest first, `size` rows older than id `before`."""
    rows = items.select_related("type", "agent", "team", "usage").defer(*HEAVY).order_by("-id")
    if before is not None:
        rows = rows.filter(id__lt=before)
    return _page(list(rows[: size + 1]), size)


def item_for_console(user: Any, pk: int) -> MemoryItem | None:
    """One memory the person sees (not forgotten), with what its pages print."""
    return (
        MemoryItem.objects.visible_to(user, Action.VIEW)
        .filter(pk=pk, deleted_at__isnull=True)
        .select_related("type", "agent", "team", "workspace", "usage")
        .defer(*HEAVY)
        .first()
    )


def retrieval_history(item: MemoryItem, *, before: int | None, size: int) -> Page:
    """The context assemblies that returned `item`, newest first, with the agent, trace, task
    and score breakdown; served by the index `context_item_history` (item, -id)."""
    uses = (
        ContextAssemblyItem.objects.filter(item_id=item.pk)
        .select_related("assembly", "assembly__agent")
        .order_by("-id")
    )
    if before is not None:
        uses = uses.filter(id__lt=before)
    return _page(list(uses[: size + 1]), size)


def reviewable_ids(user: Any, ids: list[int]) -> set[int]:
    """Which of these items the person may expire (memory_expire's rule: review), in one
    query for a whole page instead of one per row."""
    if not ids:
        return set()
    allowed = MemoryItem.objects.visible_to(user, Action.REVIEW).filter(pk__in=ids)
    return set(allowed.values_list("pk", flat=True))


def editable_ids(request: Any, ids: list[int]) -> set[int]:
    """Which of these items the person may edit (memory_update's rule: edit, and not a
    read-only role), in one query: the brain page says "Edit" for these, "Open" for others."""
    from apps.core.admin_site import is_read_only

    if not ids or is_read_only(request):
        return set()
    allowed = MemoryItem.objects.visible_to(request.user, Action.EDIT).filter(pk__in=ids)
    return set(allowed.values_list("pk", flat=True))


def brains_for(user: Any) -> dict[str, list[Any]]:
    """The workspaces, teams and agents whose brains the person may open (index page)."""
    return {
        kind: list(model.objects.visible_to(user, Action.VIEW).order_by("pk")[:200])
        for kind, model in SCOPE_MODELS.items()
    }


def _page(rows: list[Any], size: int) -> Page:
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, next_before=rows[-1].pk if more and rows else None)
