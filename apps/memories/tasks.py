"""Memory sweeps run by celery beat (schedule: config/settings/memories.py)."""

from __future__ import annotations

from celery import shared_task

from apps.memories.services import memories_expire_due
from apps.memories.vector_indexes import workspace_indexes_sync
from apps.workspaces.principal import Principal

EXPIRY_ACTOR = Principal.system("memories.expire_due")
INDEX_ACTOR = Principal.system("memories.workspace_indexes_sync")


@shared_task(name="memories.expire_due", ignore_result=True)
def expire_due() -> int:
    """Thin: the service walks the due items in batches; re-running is harmless."""
    return memories_expire_due(actor=EXPIRY_ACTOR)


@shared_task(name="memories.workspace_indexes_sync", ignore_result=True)
def workspace_indexes_sync_task(workspace_id: int | None = None) -> list[int]:
    """Builds the HNSW index of each workspace that outgrew the exact scan (or of the one a
    write queued it for); one at a time (an advisory lock), so overlapping runs are harmless."""
    return workspace_indexes_sync(actor=INDEX_ACTOR, workspace_id=workspace_id)
