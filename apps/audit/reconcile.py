"""Reconciling governed tables with the audit trail: every row a mutation touched must have an
audit event naming it (docs/audit.md, "Completeness").

Models are registered here with `governed_model_register` (or listed in NOT_GOVERNED, with
why); the reconciler snapshots them, lets a mutation run, and lists each changed row no event
accounts for. An event accounts for a row when it names one of the row's subjects: the row
itself, or the parent its registration maps it to (a memory version is audited on its
memory). An event names (object_type, object_id), every id of its `after["ids"]` (batch
events such as memory.expire_batch), and whatever `event_rows_register` declares for its
action (memory.approve lists what it superseded under `after["superseded"]`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard, cast

from django.apps import apps

from apps.audit.models import AuditEvent

Subject = tuple[str, str]
SubjectMap = Callable[[dict[str, Any]], Subject | Iterable[Subject]]
EventRows = Callable[[dict[str, Any]], Iterable[Subject]]
Entry = tuple[str, frozenset[Subject]]  # (digest of the row, subjects whose event covers it)
Snapshot = dict[str, dict[Any, Entry]]


@dataclass(frozen=True)
class Governed:
    label: str  # "app_label.model"
    ignore: frozenset[str]  # telemetry columns that change without an audit event
    subject: SubjectMap | None  # whose event covers a row (besides the row itself)
    lazy_defaults: bool  # rows created on first read with default values need no event
    log: bool  # rows record something else (a read, a worker's output): inserted unaudited

    @property
    def unaudited_inserts(self) -> bool:
        return self.lazy_defaults or self.log


REGISTRY: dict[str, Governed] = {}
EVENT_ROWS: dict[str, list[EventRows]] = {}


def governed_model_register(
    label: str,
    *,
    ignore: Iterable[str] = (),
    subject: SubjectMap | None = None,
    lazy_defaults: bool = False,
    log: bool = False,
) -> None:
    """Declare `label` governed: every change of its rows must be audited. `subject` maps a
    row (a dict of column values) to the (object_type, object_id) — or several — whose event
    covers it, for rows audited through a parent (a memory's versions are audited on the
    memory); an event naming the row itself always covers it.
    `lazy_defaults`: a new row holding only defaults is not a decision (a policy row made on
    first use). `log`: a new row is the record of something that is not a decision (a
    context read, an export's chunk, a verification run). In both cases later changes and
    deletion still need events."""
    REGISTRY[label.lower()] = Governed(
        label.lower(), frozenset(ignore), subject, lazy_defaults, log
    )


def event_rows_register(action: str, rows: EventRows) -> None:
    """Events of `action` also name the rows `rows(event)` returns; `event` holds the event's
    object_type, object_id, before and after."""
    EVENT_ROWS.setdefault(action, []).append(rows)


def _digest(row: dict[str, Any], ignore: frozenset[str]) -> str:
    kept = sorted((k, repr(v)) for k, v in row.items() if k not in ignore)
    return hashlib.sha256(repr(kept).encode()).hexdigest()


def _model(label: str) -> Any:
    return apps.get_model(label)


def _subjects(governed: Governed, row: dict[str, Any]) -> frozenset[Subject]:
    own = (governed.label, str(row["id"]))
    if governed.subject is None:
        return frozenset({own})
    mapped = governed.subject(row)
    if _is_subject(mapped):
        return frozenset({own, mapped})
    return frozenset({own, *cast(Iterable[Subject], mapped)})


def _is_subject(value: object) -> TypeGuard[Subject]:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)


def snapshot(labels: Iterable[str] | None = None) -> Snapshot:
    """Every row of every governed table: its digest and its subjects (tests and small
    installations; the subjects are kept so a deleted row can still be accounted for)."""
    chosen = [REGISTRY[label] for label in (labels or REGISTRY) if _installed(label)]
    return {
        g.label: {
            row["id"]: (_digest(row, g.ignore), _subjects(g, row))
            for row in _model(g.label)._base_manager.values()
        }
        for g in chosen
    }


def _installed(label: str) -> bool:
    try:
        _model(label)
    except LookupError:
        return False
    return True


def named_rows(since_event_id: int) -> set[Subject]:
    """Every (object_type, object_id) the events after `since_event_id` account for."""
    named: set[Subject] = set()
    events = AuditEvent.objects.filter(id__gt=since_event_id).values(
        "action", "object_type", "object_id", "before", "after"
    )
    for event in events:
        named.add((event["object_type"], event["object_id"]))
        after = event["after"] if isinstance(event["after"], dict) else {}
        named.update((event["object_type"], str(pk)) for pk in after.get("ids", []))
        for rows in EVENT_ROWS.get(event["action"], []):
            named.update(rows(event))
    return named


def changed_rows(before: Snapshot, after: Snapshot) -> dict[str, set[Any]]:
    """Per governed table, the ids of rows inserted, changed (outside ignored columns) or
    deleted between the snapshots; tables without changes are left out."""
    changed: dict[str, set[Any]] = {}
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, {}), after.get(label, {})
        ids = {pk for pk, entry in new.items() if pk not in old or old[pk][0] != entry[0]}
        ids |= set(old) - set(new)
        if ids:
            changed[label] = ids
    return changed


def unaudited_changes(before: Snapshot, after: Snapshot, since_event_id: int) -> list[str]:
    """Rows changed between the snapshots that no event after `since_event_id` accounts for."""
    named = named_rows(since_event_id)
    missing = []
    for label, ids in changed_rows(before, after).items():
        old, new = before.get(label, {}), after.get(label, {})
        for pk in sorted(ids, key=str):
            if pk not in old and REGISTRY[label].unaudited_inserts:
                continue
            subjects = (new.get(pk) or old[pk])[1]
            if not _expanded(subjects, before, after) & named:
                missing.append(f"{label} {pk} changed without an audit event for {_says(subjects)}")
    return missing


def _expanded(
    subjects: frozenset[Subject], before: Snapshot, after: Snapshot
) -> frozenset[Subject]:
    """Subjects of subjects: a fingerprint of a memory version is covered by its memory's
    event, as the version is."""
    found, todo = set(subjects), list(subjects)
    while todo:
        label, pk = todo.pop()
        for snap in (after, before):
            rows = snap.get(label, {})
            entry = rows.get(int(pk)) if pk.isdigit() else rows.get(pk)
            if entry is not None:
                todo.extend(entry[1] - found)
                found |= entry[1]
                break
    return frozenset(found)


def _says(subjects: frozenset[Subject]) -> str:
    return " or ".join(str(s) for s in sorted(subjects))


def ungoverned_models() -> list[str]:
    """Concrete models of this repository's apps (many-to-many tables included) that are
    neither registered nor in NOT_GOVERNED: each needs a decision."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        if not model.__module__.startswith("apps.") or model._meta.proxy:
            continue
        label = model._meta.label_lower
        if label not in REGISTRY and label not in NOT_GOVERNED:
            found.append(label)
    return sorted(found)


# --- helpers for the registrations below --------------------------------------------------------


def _fk(label: str, column: str) -> Callable[[dict[str, Any]], Subject]:
    return lambda row: (label, str(row.get(column)))


def _fks(*pairs: tuple[str, str]) -> Callable[[dict[str, Any]], list[Subject]]:
    return lambda row: [(label, str(row[col])) for label, col in pairs if row.get(col) is not None]


def _listed(part: str, key: str, label: str) -> EventRows:
    """The ids an event lists under `event[part][key]` (a list or one id) are rows of `label`."""

    def rows(event: dict[str, Any]) -> list[Subject]:
        document = event[part] if isinstance(event[part], dict) else {}
        value = document.get(key)
        ids = value if isinstance(value, list) else [] if value is None else [value]
        return [(label, str(pk)) for pk in ids]

    return rows


def _retention_rows(event: dict[str, Any]) -> list[Subject]:
    """retention.prune_batch names its target (object_id) and lists the deleted ids."""
    from apps.compliance.registry import retention_target

    target = retention_target(event["object_id"])
    if target is None or not isinstance(event["after"], dict):
        return []
    probe = target.expired(0, dt.datetime.now(tz=dt.UTC))  # a lazy queryset: its model only
    label = probe.model._meta.label_lower
    return [(label, str(pk)) for pk in event["after"].get("ids", [])]


def _rescan_rows(event: dict[str, Any]) -> list[Subject]:
    """pii.rescan_batch names the job and lists the re-masked rows of one field."""
    from apps.privacy.registry import masked_field

    after = event["after"] if isinstance(event["after"], dict) else {}
    field = masked_field(str(after.get("field", "")))
    if field is None:
        return []
    label = field.model_label.lower()
    return [(label, str(pk)) for pk in after.get("changed_ids", [])]


# --- the governed models of the apps in this repository --------------------------------------

NOT_GOVERNED: dict[str, str] = {
    # The trail itself: append-only (database triggers), hash-chained, pruned only by
    # audit_events_prune, which records an audit.prune event and an anchor.
    "audit.auditevent": "the audit trail itself",
    "audit.auditchainhead": "the chain's bookkeeping, advanced by every event insert",
    "audit.auditchainanchor": "append-only, written with the audit.prune event it belongs to",
    "audit.auditredaction": "append-only, written with the audit.redact event it belongs to",
    # Infrastructure, not data anyone decides on.
    "core.workerheartbeat": "worker liveness for /healthz",
    "core.idempotencyrecord": "replay cache of API answers; the write it replays is audited",
    "core.outboxmessage": "tasks waiting for the broker; the change that queued one is audited",
    # Retrieval statistics, bumped on every context read (docs/benchmarks.md).
    "memories.memoryusage": "retrieval counters: statistics, not content",
    # django-axes (apps/core/logins.py): every login writes and resets these; the decisions
    # are audited instead (login.lockout when one starts, login.unlock, login.records_expire).
    "axes.accessattempt": "failed-login counters, kept and reset by each login",
    "axes.accessattemptexpiration": "axes' expiry of a counter (unused: no attempt expiration)",
    "axes.accessfailurelog": "axes' per-failure log (switched off)",
}

MEMORY = "memories.memoryitem"
JOB_PROGRESS = (
    "status",
    "total",
    "processed",
    "changed",
    "current_field",
    "last_id",
    "error",
    "started_at",
    "finished_at",
    "updated_at",
)

# workspaces
for _label in ("workspaces.workspace", "workspaces.team", "workspaces.membership"):
    governed_model_register(_label)
governed_model_register("workspaces.agent")
governed_model_register("workspaces.agenttoken", ignore={"last_used_at"})
for _label in ("workspaces.agentuserobjectpermission", "workspaces.agentgroupobjectpermission"):
    governed_model_register(_label, subject=_fk("workspaces.agent", "content_object_id"))

# privacy. A policy row is made with the defaults on first use (policy_for_workspace).
governed_model_register("privacy.privacypolicy", ignore={"updated_at"}, lazy_defaults=True)
for _label in (
    "privacy.privacypolicyuserobjectpermission",
    "privacy.privacypolicygroupobjectpermission",
):
    governed_model_register(_label, subject=_fk("privacy.privacypolicy", "content_object_id"))
# A re-scan is started with pii.rescan_start; the worker's progress is telemetry, and every
# row it re-masks is named by a pii.rescan_batch event.
governed_model_register("privacy.piiscanjob", ignore=JOB_PROGRESS)
event_rows_register("pii.rescan_batch", _rescan_rows)

# memories. Retrieval counters live in memories.memoryusage (NOT_GOVERNED).
governed_model_register(MEMORY, ignore={"search"})
governed_model_register("memories.memoryversion", subject=_fk(MEMORY, "item_id"))
governed_model_register(
    "memories.memoryitem_parents",
    subject=_fks((MEMORY, "from_memoryitem_id"), (MEMORY, "to_memoryitem_id")),
)
# write_policy_for() and memory_types_ensure() create a workspace's defaults on first use.
governed_model_register("memories.writepolicy", lazy_defaults=True)
governed_model_register("memories.memorytype", lazy_defaults=True)
# A write-policy version is written with the memory.write_policy_update/_restore event on its
# policy.
governed_model_register(
    "memories.writepolicyversion", subject=_fk("memories.writepolicy", "policy_id")
)
# Opened with the proposed memory's memory.write; closed with memory.approve/reject/expire
# (their proposed memory) or memory.agent_reset (either memory in its ids).
governed_model_register(
    "memories.memoryconflict", subject=_fks((MEMORY, "proposed_id"), (MEMORY, "existing_id"))
)
# Context assembly is a read: its log rows are written without an event (the hot path), but
# removing them (retention, erasure) must be on record.
governed_model_register("memories.contextassembly", log=True)
governed_model_register(
    "memories.contextassemblyitem",
    log=True,
    subject=_fks(("memories.contextassembly", "assembly_id"), (MEMORY, "item_id")),
)
event_rows_register("memory.agent_reset", _listed("after", "ids", MEMORY))
for _action in ("memory.approve", "memory.reject", "memory.expire"):
    event_rows_register(_action, _listed("after", "superseded", MEMORY))
    event_rows_register(_action, _listed("after", "conflicts_resolved", "memories.memoryconflict"))
event_rows_register("memory.promote", _listed("before", "original", MEMORY))

# reviews. A request is opened and closed by apps.reviews.intake inside a memory service, whose
# event names the memory; a decision's own event names the request (review.*).
governed_model_register(
    "reviews.reviewrequest",
    subject=_fks((MEMORY, "memory_id"), ("memories.memoryconflict", "conflict_id")),
)
# review_settings_for() creates a workspace's settings with the defaults on first use.
governed_model_register("reviews.reviewsettings", lazy_defaults=True)
governed_model_register(
    "reviews.editpair", subject=_fks(("reviews.reviewrequest", "request_id"), (MEMORY, "memory_id"))
)

# compliance
# A derived index written while masked text is saved (the save's event names the row it
# indexes); erasure deletes it, and what erasure deletes must be on record.
governed_model_register(
    "compliance.piifingerprint",
    log=True,
    subject=lambda row: (str(row["model_label"]).lower(), str(row["object_id"])),
)
governed_model_register("compliance.erasurerequest", ignore={"total", "processed", "updated_at"})
# retention_rules_ensure() creates the defaults; each run's outcome columns are telemetry.
governed_model_register(
    "compliance.retentionrule",
    lazy_defaults=True,
    ignore={"last_run_at", "last_deleted", "last_error"},
)
event_rows_register("retention.prune_batch", _retention_rows)
# An export is started with audit.export_start and read with audit.export_download; building
# the file is the worker's output (progress and chunks), removing it must be on record.
governed_model_register(
    "compliance.exportjob", ignore={*JOB_PROGRESS, "verification", "size_bytes"}
)
governed_model_register(
    "compliance.exportchunk", log=True, subject=_fk("compliance.exportjob", "job_id")
)

# audit. A verification run is a read whose result row is its own record (scheduled every few
# hours); a changed or deleted run would need an event.
governed_model_register("audit.auditverificationrun", log=True)
