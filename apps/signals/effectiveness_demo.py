"""Demo runs for memory effectiveness (docs/signals.md, "Memory effectiveness"): in each demo
workspace, one trace per context assembly of the month of history (apps.memories.demo_month),
logging that assembly as its context, with made-up outcomes (about 30% positive replies, a few
unsubscribes and complaints, at random: no memory is made to look good). A memory page then
shows real comparisons. Runs after seed_signals (which leaves a workspace with traces alone);
idempotent: a workspace with a trace that logged its context is left alone. Goes through the
ingestion services, as the API would."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db import transaction

from apps.core import clock
from apps.memories.models import ContextAssembly
from apps.signals import services
from apps.signals.models import Trace
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
TASK_KIND = "sales_email"
BATCH = 500


@transaction.atomic
def seed_effectiveness_demo() -> None:
    for workspace in Workspace.objects.filter(slug__in=("acme", "globex")).order_by("slug"):
        if Trace.objects.filter(workspace=workspace, context_assembly__isnull=False).exists():
            continue
        assemblies = list(
            ContextAssembly.objects.filter(workspace=workspace).order_by("created_at", "id")
        )
        if assemblies:
            _seed(workspace, assemblies)


def _seed(workspace: Workspace, assemblies: list[ContextAssembly]) -> None:
    rng = random.Random(f"effectiveness-{workspace.slug}")  # noqa: S311 - demo data
    ids: list[int] = []
    for start in range(0, len(assemblies), BATCH):
        items = [_trace(assembly) for assembly in assemblies[start : start + BATCH]]
        result = services.traces_ingest(actor=SEED_ACTOR, workspace=workspace, items=items)
        ids += [item["id"] for item in result.items if item["status"] == "created"]
    outcomes = []
    for n, (trace_id, assembly) in enumerate(zip(ids, assemblies, strict=True)):
        draw = rng.random()
        kind = (
            "complaint"
            if draw < 0.02
            else "unsubscribe"
            if draw < 0.07
            else "positive_reply"
            if draw < 0.37
            else None
        )
        if kind is not None:
            when = min(clock.now(), assembly.created_at + dt.timedelta(hours=rng.randint(2, 48)))
            outcomes.append(
                {
                    "idempotency_key": f"demo-effectiveness-{workspace.slug}-{n}",
                    "kind": kind,
                    "trace": trace_id,
                    "occurred_at": when.isoformat(),
                }
            )
    for start in range(0, len(outcomes), BATCH):
        services.outcomes_ingest(
            actor=SEED_ACTOR, workspace=workspace, items=outcomes[start : start + BATCH]
        )


def _trace(assembly: ContextAssembly) -> dict[str, Any]:
    started = assembly.created_at
    return {
        "agent": assembly.agent_id,
        "task": "Sales e-mail (demo run that logged its context)",
        "task_kind": TASK_KIND,
        "status": "success",
        "started_at": started.isoformat(),
        "ended_at": (started + dt.timedelta(seconds=12)).isoformat(),
        "context_assembly": assembly.pk,
    }
