"""Demo retrieval history for the memory console: a few real context assemblies per demo
agent, so "why was this used" and the brains' "used n times" have something to show.

Runs the real selector (memories_for_context logs each assembly and bumps retrieval counts);
skipped for a workspace that already has assemblies, so seeding twice adds nothing.
"""

from __future__ import annotations

from apps.memories.models import ContextAssembly
from apps.memories.selectors import memories_for_context
from apps.workspaces.models import Agent
from apps.workspaces.scopes import Scope

DEMO_TASKS = (
    (
        "demo-trace-001",
        "Draft a follow-up to Initech after the demo; they said the arm is too expensive",
    ),
    (
        "demo-trace-002",
        "Prepare the call notes for a July budget conversation with a logistics prospect",
    ),
    ("demo-trace-003", "Answer a question about payback time and the Hamburg pilot"),
)


def seed_console_demo(workspace_slugs: tuple[str, ...] = ("acme", "globex")) -> int:
    """Assemblies for each active agent of the demo workspaces; returns how many were made."""
    made = 0
    agents = Agent.objects.filter(workspace__slug__in=workspace_slugs, is_active=True)
    for agent in agents.select_related("workspace").order_by("pk"):
        if ContextAssembly.objects.filter(workspace_id=agent.workspace_id, agent=agent).exists():
            continue
        for trace_id, task in DEMO_TASKS:
            memories_for_context(
                agent=agent,
                task_text=task,
                k=5,
                trace_id=trace_id,
                token_scopes=[Scope.MEMORIES_READ.value],
            )
            made += 1
    return made
