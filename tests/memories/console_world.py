"""The console tests' world: the shared cast plus memories in every tier, an agent's personal
brain (approved, proposed, rejected), a marketing agent, Globex's item, and retrieval history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F

from apps.memories.models import (
    ContextAssembly,
    ContextAssemblyItem,
    MemoryItem,
    MemoryUsage,
    Status,
    Strategy,
    Tier,
)
from apps.workspaces.models import Agent
from tests.memories.factories import MemoryItemFactory, memory_type
from tests.workspaces.factories import AgentFactory


@dataclass
class ConsoleWorld:
    cast: Any
    mkt_agent: Agent
    items: dict[str, MemoryItem]

    def personal(self, agent: Agent | None = None) -> list[MemoryItem]:
        return list(
            MemoryItem.objects.filter(tier=Tier.PERSONAL, agent=agent or self.cast.agent).order_by(
                "pk"
            )
        )


def build_console_world(cast: Any) -> ConsoleWorld:
    ws, sales, marketing = cast.workspace, cast.sales, cast.marketing
    mkt_agent = AgentFactory(workspace=ws, team=marketing, name="Mkt Bot", slug="mkt-bot")

    def make(name: str, **kwargs: Any) -> MemoryItem:
        kwargs.setdefault("workspace", ws)
        return MemoryItemFactory(content=f"{name} memory about pricing", **kwargs)

    items = {
        "workspace": make("workspace"),
        "sales": make("sales", tier=Tier.TEAM, team=sales),
        "marketing": make("marketing", tier=Tier.TEAM, team=marketing),
        "own": make("own", tier=Tier.PERSONAL, agent=cast.agent),
        "own_coaching": make(
            "own coaching",
            tier=Tier.PERSONAL,
            agent=cast.agent,
            type=memory_type(ws, "coaching"),
        ),
        "own_proposed": make(
            "own proposed", tier=Tier.PERSONAL, agent=cast.agent, status=Status.PROPOSED
        ),
        "own_rejected": make(
            "own rejected", tier=Tier.PERSONAL, agent=cast.agent, status=Status.REJECTED
        ),
        "mkt_own": make("marketing agent", tier=Tier.PERSONAL, agent=mkt_agent),
        "globex": make("globex", workspace=cast.other_workspace),
    }
    assembly = ContextAssembly.objects.create(
        workspace=ws,
        agent=cast.agent,
        trace_id="trace-console-1",
        task_text="Answer the pricing objection for Initech",
        k=10,
        strategy=Strategy.EXACT,
    )
    for rank, name in enumerate(("workspace", "own"), start=1):
        ContextAssemblyItem.objects.create(
            assembly=assembly,
            item=items[name],
            rank=rank,
            score=0.8 / rank,
            importance_part=0.15,
            recency_part=0.2,
            relevance_part=0.45 / rank,
            vector_similarity=0.7,
            text_rank=0.3,
        )
        MemoryUsage.objects.create(item=items[name], retrieval_count=1)
    return ConsoleWorld(cast=cast, mkt_agent=mkt_agent, items=items)


def add_uses(world: ConsoleWorld, item: MemoryItem, count: int) -> None:
    for n in range(count):
        assembly = ContextAssembly.objects.create(
            workspace=item.workspace,
            agent=world.cast.agent,
            trace_id=f"trace-{n}",
            task_text=f"task {n}",
            k=10,
            strategy=Strategy.EXACT,
        )
        ContextAssemblyItem.objects.create(
            assembly=assembly,
            item=item,
            rank=1,
            score=0.5,
            importance_part=0.1,
            recency_part=0.1,
            relevance_part=0.3,
            vector_similarity=0.5,
            text_rank=0.1,
        )
    usage, _ = MemoryUsage.objects.get_or_create(item=item)
    MemoryUsage.objects.filter(pk=usage.pk).update(retrieval_count=F("retrieval_count") + count)
