"""Audit-trail exports for auditors: CSV or JSON Lines, built by a worker in chunks stored in
the database, with the hash chain's verification result written into the file itself."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.audit.models import AuditEvent
from apps.audit.services import audit_event_record
from apps.compliance.models import ExportChunk, ExportFormat, ExportJob, ExportStatus
from apps.core import clock
from apps.core.exceptions import ValidationFailed
from apps.core.outbox import outbox_enqueue
from apps.privacy.policies import field_mask
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

CHUNK_ROWS = 1000
FILTER_KEYS = ("since", "until", "actor", "action", "object_type")
TYPED = ("action", "object_type")
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def clean_filters(raw: dict[str, Any]) -> dict[str, str]:
    """since/until (ISO datetimes with a zone), actor (label), action, object_type."""
    unknown = set(raw) - set(FILTER_KEYS)
    if unknown:
        raise ValidationFailed(f"Unknown filters: {', '.join(sorted(unknown))}.")
    cleaned: dict[str, str] = {}
    for key in FILTER_KEYS:
        value = raw.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > 200:
            raise ValidationFailed(f"{key} must be text.", fields={key: ["Invalid value."]})
        if key in ("since", "until"):
            moment = parse_datetime(value)
            if moment is None or timezone.is_naive(moment):
                raise ValidationFailed(
                    f"{key} must be an ISO 8601 date and time with a time zone.",
                    fields={key: ["Invalid datetime."]},
                )
        cleaned[key] = value.strip()
    if "since" in cleaned and "until" in cleaned:
        since, until = parse_datetime(cleaned["since"]), parse_datetime(cleaned["until"])
        if since and until and since >= until:
            raise ValidationFailed("since must be before until.", fields={"until": ["Too early."]})
    return cleaned


def stored_filters(workspace: Workspace, cleaned: dict[str, str]) -> dict[str, str]:
    """The filters as the job stores them (ExportJob.filters is a masked field). Times stay
    exact. Action and object type are masked: they name code-written values, which hold no
    personal data, so a masked one selects what the raw one would. The actor is resolved
    (_stored_actor), so no username is stored and the export still selects that actor."""
    stored = {key: value for key, value in cleaned.items() if key not in ("actor", *TYPED)}
    for key in TYPED:
        if key in cleaned:
            stored[key] = field_mask(workspace, ExportJob, "filters", cleaned[key], param=key)
    if "actor" in cleaned:
        stored.update(_stored_actor(workspace, cleaned["actor"]))
    return stored


def _stored_actor(workspace: Workspace, actor: str) -> dict[str, str]:
    """A username or an agent's `<workspace id>/<slug>` becomes actor_kind and actor_id (the
    audit trail stores labels masked, so only the id finds an e-mail-named user's events).
    Other text (a system task's label, an id) is kept when it holds no personal data;
    personal data naming nobody is refused: its masked form would select other people."""
    resolved = _actor_by_label(workspace, actor)
    if resolved is not None:
        return {"actor_kind": resolved[0], "actor_id": resolved[1]}
    if field_mask(workspace, ExportJob, "filters", actor, param="actor") != actor:
        raise ValidationFailed(
            "actor names no user or agent of this workspace; use a username, an agent's "
            "<workspace id>/<slug>, or an id.",
            fields={"actor": ["Unknown actor."]},
        )
    return {"actor": actor}


def _actor_by_label(workspace: Workspace, label: str) -> tuple[str, str] | None:
    user_id = get_user_model().objects.filter(username=label).values_list("pk", flat=True).first()
    if user_id is not None:
        return "user", str(user_id)
    prefix, _, slug = label.partition("/")
    if prefix == str(workspace.pk) and slug:
        agents = Agent.objects.filter(workspace=workspace, slug=slug)
        agent_id = agents.values_list("pk", flat=True).first()
        if agent_id is not None:
            return "agent", str(agent_id)
    return None


def events_for(workspace_id: int, filters: dict[str, str]) -> Any:
    queryset = AuditEvent.objects.filter(workspace_id=workspace_id)
    if "since" in filters:
        queryset = queryset.filter(created_at__gte=parse_datetime(filters["since"]))
    if "until" in filters:
        queryset = queryset.filter(created_at__lt=parse_datetime(filters["until"]))
    if "actor_id" in filters:
        queryset = queryset.filter(actor_kind=filters["actor_kind"], actor_id=filters["actor_id"])
    if "actor" in filters:
        queryset = queryset.filter(Q(actor_label=filters["actor"]) | Q(actor_id=filters["actor"]))
    if "action" in filters:
        queryset = queryset.filter(action=filters["action"])
    if "object_type" in filters:
        queryset = queryset.filter(object_type=filters["object_type"])
    return queryset


@transaction.atomic
def export_job_start(
    *, actor: Any, workspace: Workspace, format: str, filters: dict[str, Any] | None = None
) -> ExportJob:
    """Queue an export of the workspace's audit trail. Whoever may audit the workspace."""
    require(actor, Action.AUDIT, workspace)
    if format not in ExportFormat.values:
        raise ValidationFailed(
            f"Unknown format {format!r}; use csv or jsonl.", fields={"format": ["Unknown."]}
        )
    job = ExportJob.objects.create(
        workspace=workspace,
        format=format,
        filters=stored_filters(workspace, clean_filters(filters or {})),
        requested_by=as_principal(actor).user,
    )
    audit_event_record(
        actor=actor,
        action="audit.export_start",
        obj=job,
        workspace_id=workspace.pk,
        after={"format": job.format, "filters": job.filters},
    )
    outbox_enqueue("compliance.export_run", args=[job.pk])
    return job


# --- the worker's part -------------------------------------------------------------------------


def verify_chain(workspace_id: int) -> dict[str, Any]:
    """The audit helper's chain verification, as JSON; says so when it isn't available."""
    try:
        from apps.audit.chain import audit_chain_verify  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return {"available": False, "problem": "audit chain verification is not installed"}
    results = audit_chain_verify(workspace_id=workspace_id)
    found = [r for r in results if getattr(r, "workspace_id", None) == workspace_id] or results
    if not found:
        return {"available": True, "ok": True, "checked": 0}
    first = found[0]
    data = asdict(first) if is_dataclass(first) else dict(vars(first))
    return {"available": True, **{k: _plain(v) for k, v in data.items()}}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def export_claim(job_id: int) -> bool:
    now = clock.now()
    if ExportJob.objects.filter(id=job_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=now
    ):
        return True
    return ExportJob.objects.filter(id=job_id, status=ExportStatus.RUNNING).exists()


def export_execute(*, job_id: int) -> None:
    """Verify the chain, then write the events (up to the newest at the start) in keyset
    chunks, one transaction per chunk with the job's cursor, so a retry resumes."""
    if not export_claim(job_id):
        return
    job = ExportJob.objects.get(pk=job_id)
    if job.verification is None:
        job.verification = verify_chain(job.workspace_id)
        events = events_for(job.workspace_id, job.filters)
        head = events.order_by("-id").values_list("id", flat=True).first() or 0
        job.verification["export_head_event_id"] = head
        job.total = events.count()
        with transaction.atomic():
            ExportChunk.objects.filter(job=job).delete()
            _write_chunk(job, 0, _preamble(job))
            job.save(update_fields=["verification", "total", "updated_at"])
    head = int(job.verification.get("export_head_event_id", 0))
    while _export_chunk(job_id, head):
        pass
    _finish(job_id)


def _fields() -> list[str]:
    return [field.attname for field in AuditEvent._meta.concrete_fields]


def _preamble(job: ExportJob) -> str:
    verification = json.dumps(job.verification, sort_keys=True, default=str)
    if job.format == ExportFormat.JSONL:
        return (
            json.dumps(
                {"type": "verification", "workspace": job.workspace_id, **(job.verification or {})},
                default=str,
            )
            + "\n"
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(f"# chain verification: {verification}")])
    writer.writerow(_fields())
    return buffer.getvalue()


def _export_chunk(job_id: int, head: int) -> bool:
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        events = list(
            events_for(job.workspace_id, job.filters)
            .filter(id__gt=job.last_id, id__lte=head)
            .order_by("id")
            .values(*_fields())[:CHUNK_ROWS]
        )
        if not events:
            return False
        seq = ExportChunk.objects.filter(job=job).count()
        _write_chunk(job, seq, render(job.format, events))
        ExportJob.objects.filter(pk=job_id).update(
            last_id=events[-1]["id"], processed=F("processed") + len(events)
        )
        return True


def _write_chunk(job: ExportJob, seq: int, data: str) -> None:
    ExportChunk.objects.create(job=job, seq=seq, data=data)
    ExportJob.objects.filter(pk=job.pk).update(size_bytes=F("size_bytes") + len(data.encode()))


def _finish(job_id: int) -> None:
    ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING).update(
        status=ExportStatus.DONE, finished_at=clock.now()
    )


def export_fail(job_id: int, error: BaseException) -> None:
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportStatus.FAILED, error=type(error).__name__, finished_at=clock.now()
    )


def safe_cell(value: Any) -> str:
    """CSV injection: a cell a spreadsheet would run as a formula is prefixed with a quote."""
    if value is None:
        return ""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, default=str)
        if isinstance(value, dict | list)
        else str(value)
    )
    if isinstance(value, dt.datetime):
        text = value.isoformat()
    return f"'{text}" if text.startswith(DANGEROUS_PREFIXES) else text


def render(format: str, events: list[dict[str, Any]]) -> str:
    if format == ExportFormat.JSONL:
        return "".join(
            json.dumps({"type": "event", **event}, default=_json_default, sort_keys=True) + "\n"
            for event in events
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for event in events:
        writer.writerow([safe_cell(event[name]) for name in _fields()])
    return buffer.getvalue()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


# --- download ----------------------------------------------------------------------------------


@transaction.atomic
def export_download(*, actor: Any, job: ExportJob) -> Iterator[str]:
    """The file's chunks, for whoever may audit the job's workspace; the download is audited."""
    require(actor, Action.AUDIT, job.workspace)
    if job.status != ExportStatus.DONE:
        raise ValidationFailed("This export is not finished yet.")
    audit_event_record(
        actor=actor,
        action="audit.export_download",
        obj=job,
        workspace_id=job.workspace_id,
        after={"format": job.format, "events": job.processed},
    )
    chunk_ids = list(job.chunks.order_by("seq").values_list("pk", flat=True))
    return (ExportChunk.objects.get(pk=pk).data for pk in chunk_ids)
