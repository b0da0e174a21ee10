"""Signals test helpers over the shared cast: payloads and traces stored through the service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from apps.signals import services
from apps.signals.models import Trace

EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"


def started(hours: int = 2) -> str:
    return (timezone.now() - dt.timedelta(hours=hours)).isoformat()


def trace_item(**extra: Any) -> dict[str, Any]:
    item = {
        "task": "Write a first e-mail to the new lead",
        "steps": [{"thought": "look up the account"}, {"thought": "draft"}],
        "tool_calls": [{"tool": "crm.search", "arguments": {"q": "Initech"}}],
        "output": "Hello,\nwe help teams like yours.\nBest,\nSDR Bot\n",
        "model_name": "gpt-4o-mini",
        "tokens_in": 1200,
        "tokens_out": 300,
        "cost": 0.0042,
        "latency_ms": 2300,
        "status": "success",
        "started_at": started(2),
        "ended_at": started(1),
    }
    item.update(extra)
    return item


def outcome_item(key: str, **extra: Any) -> dict[str, Any]:
    item = {"idempotency_key": key, "kind": "reply", "occurred_at": started(1)}
    item.update(extra)
    return item


def stored_trace(agent: Any, **extra: Any) -> Trace:
    result = services.traces_ingest(actor=agent, items=[trace_item(**extra)])
    return Trace.objects.get(pk=result.items[0]["id"])
