"""Reconciling governed tables with the audit trail: every row a mutation touched must have an
audit event naming it (docs/audit.md, "Completeness").

Apps register their governed models with `governed_model_register`; the reconciler snapshots
them, lets a mutation run, and lists each changed row no event accounts for. An event
accounts for a row when it names the row's subject (object_type, object_id), or lists its id
in `after["ids"]` (batch events such as memory.expire_batch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps

from apps.audit.models import AuditEvent

Subject = tuple[str, str]
Snapshot = dict[str, dict[Any, str]]


@dataclass(frozen=True)
class Governed:
    label: str  # "app_label.model"
    ignore: frozenset[str]  # telemetry columns that change without an audit event
    subject: Callable[[dict[str, Any]], Subject] | None  # whose event covers a row
    lazy_defaults: bool  # rows created on first read with default values need no event


REGISTRY: dict[str, Governed] = {}


def governed_model_register(
    label: str,
    *,
    ignore: Iterable[str] = (),
    subject: Callable[[dict[str, Any]], Subject] | None = None,
    lazy_defaults: bool = False,
) -> None:
    """Declare `label` governed: every change of its rows must be audited. `subject` maps a
    row (a dict of column values) to the (object_type, object_id) whose event covers it, for
    rows audited through a parent (a memory's versions are audited on the memory).
    `lazy_defaults`: a new row holding only defaults is not a decision (a policy row made on
    first use); its later changes and its deletion still need events."""
    REGISTRY[label.lower()] = Governed(label.lower(), frozenset(ignore), subject, lazy_defaults)


def _digest(row: dict[str, Any], ignore: frozenset[str]) -> str:
    kept = sorted((k, repr(v)) for k, v in row.items() if k not in ignore)
    return hashlib.sha256(repr(kept).encode()).hexdigest()


def _model(label: str) -> Any:
    return apps.get_model(label)


def snapshot(labels: Iterable[str] | None = None) -> Snapshot:
    """The digest of every row of every governed table (tests and small installations)."""
    chosen = [REGISTRY[label] for label in (labels or REGISTRY) if _installed(label)]
    return {
        g.label: {row["id"]: _digest(row, g.ignore) for row in _model(g.label).objects.values()}
        for g in chosen
    }


def _installed(label: str) -> bool:
    try:
        _model(label)
    except LookupError:
        return False
    return True


def unaudited_changes(before: Snapshot, after: Snapshot, since_event_id: int) -> list[str]:
    """Rows changed between the snapshots that no event after `since_event_id` accounts for."""
    events = list(
        AuditEvent.objects.filter(id__gt=since_event_id).values_list(
            "object_type", "object_id", "after"
        )
    )
    named = {(t, i) for t, i, _ in events}
    batched = {(t, str(pk)) for t, _, a in events if isinstance(a, dict) for pk in a.get("ids", [])}
    missing = []
    for label, rows in after.items():
        old = before.get(label, {})
        lazy = REGISTRY[label].lazy_defaults
        changed = {
            pk
            for pk, digest in rows.items()
            if old.get(pk) != digest and not (lazy and pk not in old)
        }
        changed |= set(old) - set(rows)
        for pk in sorted(changed, key=str):
            subject = _subject_of(label, pk, rows, old)
            if subject not in named and subject not in batched:
                missing.append(f"{label} {pk} changed without an audit event for {subject}")
    return missing


def _subject_of(label: str, pk: Any, rows: dict[Any, str], old: dict[Any, str]) -> Subject:
    governed = REGISTRY[label]
    if governed.subject is None:
        return (label, str(pk))
    row = _model(label).objects.filter(pk=pk).values().first() or {"id": pk}
    return governed.subject(row)


# --- the governed models of the apps in this repository --------------------------------------

for _label in ("workspaces.workspace", "workspaces.team", "workspaces.membership"):
    governed_model_register(_label)
governed_model_register("workspaces.agent")
governed_model_register("workspaces.agenttoken", ignore={"last_used_at"})
governed_model_register("privacy.privacypolicy", ignore={"updated_at"})
# Retrieval counters live in memories.memoryusage (not governed: statistics, not content).
governed_model_register("memories.memoryitem", ignore={"search"})
governed_model_register(
    "memories.memoryversion", subject=lambda row: ("memories.memoryitem", str(row.get("item_id")))
)
# write_policy_for() creates a workspace's default policy on first use, unaudited by design.
governed_model_register("memories.writepolicy", lazy_defaults=True)
