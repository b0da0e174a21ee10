"""Memory sweeps run by celery beat (schedule: config/settings/memories.py)."""

from __future__ import annotations

from celery import shared_task

from apps.memories.services import memories_expire_due
from apps.workspaces.principal import Principal

EXPIRY_ACTOR = Principal.system("memories.expire_due")


@shared_task(name="memories.expire_due", ignore_result=True)
def expire_due() -> int:
    """Thin: the service walks the due items in batches; re-running is harmless."""
    return memories_expire_due(actor=EXPIRY_ACTOR)
