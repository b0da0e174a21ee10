"""Constructed traces for the memory-effectiveness tests: rows straight into the database (no
ingestion service), so each test states exactly who ran what, with which context and outcome."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.utils import timezone

from apps.memories.models import ContextAssembly, ContextAssemblyItem, MemoryItem, Strategy
from apps.signals.models import Outcome, Trace

_keys = itertools.count(1)


def assembly(agent: Any, items: list[MemoryItem]) -> ContextAssembly:
    made = ContextAssembly.objects.create(
        workspace_id=agent.workspace_id, agent=agent, task_text="t", k=5, strategy=Strategy.EXACT
    )
    ContextAssemblyItem.objects.bulk_create(
        ContextAssemblyItem(
            assembly=made,
            item=item,
            rank=rank,
            score=0.5,
            importance_part=0.1,
            recency_part=0.1,
            relevance_part=0.3,
            vector_similarity=0.5,
            text_rank=0.0,
        )
        for rank, item in enumerate(items, start=1)
    )
    return made


def runs(
    agent: Any,
    n: int,
    *,
    used: list[MemoryItem] | None,
    kind: str = "follow_up_email",
    outcomes: dict[str, int] | None = None,
    days_ago: float = 1,
) -> list[Trace]:
    """`n` traces of `agent`; `used` is the context they logged (None: no assembly logged);
    `outcomes` maps an outcome kind to how many of the n traces (the first ones) got it."""
    started = timezone.now() - dt.timedelta(days=days_ago)
    traces = []
    for _ in range(n):
        context = assembly(agent, used) if used is not None else None
        traces.append(
            Trace(
                workspace_id=agent.workspace_id,
                agent=agent,
                task="t",
                task_kind=kind,
                status="success",
                started_at=started,
                context_assembly=context,
            )
        )
    Trace.objects.bulk_create(traces)
    for outcome_kind, count in (outcomes or {}).items():
        Outcome.objects.bulk_create(
            Outcome(
                workspace_id=agent.workspace_id,
                trace=trace,
                kind=outcome_kind,
                occurred_at=started,
                idempotency_key=f"k{next(_keys)}",
            )
            for trace in traces[:count]
        )
    return traces
