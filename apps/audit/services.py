"""Writing audit events. Called by every service, inside that service's transaction.

Raw PII never reaches the trail: before, after, reason and the labels are masked with the
workspace's privacy policy (the default policy for events of no workspace) before the insert.
Nor do the subject's keyed tokens: audit rows are append-only, so data-subject erasure could
never scrub a hash token (`<EMAIL:3f9a...>`, which links every row of one address) or an
encrypted one; both become numbered placeholders (apps.privacy.engine.unlink) whatever the
policy. The hash chain covers the stored, unlinked form.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, models, transaction

from apps.audit.chain import stored_content_hash
from apps.audit.models import AuditEvent, AuditRedaction
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.core.request_context import get_request_id
from apps.privacy.engine import PIIInputError
from apps.privacy.engine.unlink import unlink_tokens
from apps.privacy.keyring import masking_keys
from apps.privacy.policies import json_mask
from apps.workspaces.principal import Principal, as_principal

REDACT_ACTION = "audit.redact"
REDACTABLE_FIELDS = ("before", "after", "reason", "object_repr")
# Masked before it is clipped to the column's 200 characters: a value cut in two at the
# boundary could escape detection.
REPR_SOURCE_CHARS = 400


class AuditOutsideTransactionError(RuntimeError):
    """An audit event must commit or roll back with its change; no transaction, no event."""


class DateText(str):
    """The ISO text of a date or time, as _json_value writes it (a snapshot keeps it): a
    quantity, like a JSON number, so the event's masking does not scan it (a timestamp's
    digits cost the phone detector ~0.1 ms each). Stored and hashed as the plain text."""

    __slots__ = ()


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return DateText(value.isoformat())
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


def _date_texts(value: Any, found: set[str]) -> None:
    if type(value) is DateText:
        found.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _date_texts(item, found)
    elif isinstance(value, list):
        for item in value:
            _date_texts(item, found)


def audit_snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """A JSON-ready picture of `fields` of `obj` (foreign keys by id) for before/after."""
    snapshot: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        attname = getattr(field, "attname", name)
        snapshot[name] = _json_value(getattr(obj, attname))
    return snapshot


def audit_event_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    workspace_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit event; refuses to run outside a transaction (see module docstring)."""
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransactionError(f"audit event {action!r} written outside a transaction")
    event = _event_row(
        as_principal(actor),
        get_request_id(),
        action=action,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        workspace_id=workspace_id,
        before=before,
        after=after,
        reason=reason,
    )
    event.save()
    return event


def audit_events_record(
    *,
    actor: Any,
    events: Sequence[Mapping[str, Any]],
    workspace_id: int | None = None,
    clean_texts: Collection[str] = (),
) -> list[AuditEvent]:
    """Append many events of one actor in one go: each masked as audit_event_record masks
    one, then all chained and inserted by one bulk insert (AuditEvent.objects.bulk_create),
    which takes each chain's head lock once, as the single recorder does per event. Order is
    kept: the events get consecutive seqs in the order given.

    Each event is a mapping of audit_event_record's keyword arguments (action, obj,
    object_type, object_id, before, after, reason, and optionally workspace_id, which
    defaults to `workspace_id`). Refuses to run outside a transaction.

    `clean_texts`: texts the caller has just scanned with `workspace_id`'s policy and found
    nothing in (a memory's content, stored as given): they are not scanned again where they
    appear whole in these events. Masking is deterministic under one policy, so skipping them
    changes nothing; any other string is scanned as usual.
    """
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransactionError("audit events written outside a transaction")
    if not events:
        return []
    principal = as_principal(actor)
    request_id = get_request_id()
    rows = []
    # Per chain (one policy each): short strings found clean, not scanned again in the next
    # events of the batch (the snapshot's keys and enum values recur in every event).
    clean: dict[int | None, set[str]] = {workspace_id: set(clean_texts)}
    for event in events:
        obj = event.get("obj")
        event_workspace = event.get("workspace_id", workspace_id)
        rows.append(
            _event_row(
                principal,
                request_id,
                clean=clean.setdefault(event_workspace, set()),
                action=event["action"],
                obj=obj,
                object_type=event.get("object_type", ""),
                object_id=event.get("object_id", ""),
                workspace_id=event_workspace,
                before=event.get("before"),
                after=event.get("after"),
                reason=event.get("reason", ""),
            )
        )
    return AuditEvent.objects.bulk_create(rows)


def _event_row(
    principal: Principal,
    request_id: str,
    *,
    action: str,
    obj: models.Model | None,
    object_type: str,
    object_id: str,
    workspace_id: int | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str,
    clean: set[str] | None = None,
) -> AuditEvent:
    """One unsaved event, masked (see the module docstring)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    object_repr = str(obj)[:REPR_SOURCE_CHARS] if obj is not None else ""
    # The object's own id at the head of its repr ("#123 ...", as memories show themselves)
    # is not personal data and is not scanned: a 7-digit id cost the phone detector ~50 us.
    id_head = f"#{obj.pk} " if obj is not None and obj.pk is not None else ""
    if not object_repr.startswith(id_head):
        id_head = ""
    document = {
        "before": _json_value(before) if before is not None else None,
        "after": _json_value(after) if after is not None else None,
        "reason": reason,
        "object_repr": object_repr[len(id_head) :],
        "actor_label": principal.label[:200],
    }
    dates: set[str] = set()  # not scanned: see DateText
    _date_texts(document, dates)
    if clean is None:
        clean = dates
    else:
        clean.update(dates)
    masked = _masked(workspace_id, document, clean)
    return AuditEvent(
        workspace_id=workspace_id,
        actor_kind=principal.kind,
        actor_id=principal.actor_id,
        actor_label=masked["actor_label"][:200],
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=(id_head + masked["object_repr"])[:200],
        before=masked["before"],
        after=masked["after"],
        reason=masked["reason"],
        request_id=request_id,
    )


def _masked(
    workspace_id: int | None, document: dict[str, Any], clean: set[str] | None = None
) -> dict[str, Any]:
    """One document, so a value keeps one placeholder across before, after and reason."""
    try:
        masked = json_mask(workspace_id, document, clean=clean).value
        value = unlink_tokens(masked, masking_keys())
    except PIIInputError as exc:
        raise ValidationFailed(f"This change can't be recorded: {exc}") from None
    assert isinstance(value, dict)  # noqa: S101 - masking and unlinking keep the shape
    return value


# --- redaction ---------------------------------------------------------------------------------


@transaction.atomic
def audit_event_redact(
    *,
    actor: Any,
    event: AuditEvent,
    replacements: dict[str, Any],
    reason: str,
    job: models.Model | None = None,
) -> AuditRedaction | None:
    """Replace personal data that slipped into an event (before, after, reason, object_repr)
    with its masked form; None when the masked values change nothing.

    The event keeps its hash, seq and prev_hash, so the chain still links; the AuditRedaction
    keeps the hash of the new content (verification checks the row against it from now on),
    and an `audit.redact` event in the same chain records both hashes and the field names,
    never a value. The values are masked and unlinked here as on write, whatever the caller
    passes. Operators and system tasks only (the PII re-scan); docs/audit.md, "Redaction".
    """
    principal = as_principal(actor)
    if not (principal.kind == "system" or principal.is_superuser):
        raise Forbidden("Only operators and system tasks redact the audit trail.")
    unknown = sorted(set(replacements) - set(REDACTABLE_FIELDS))
    if unknown or not replacements:
        raise ValidationFailed(
            f"Only {', '.join(REDACTABLE_FIELDS)} can be redacted.",
            fields={name: ["Not redactable."] for name in unknown},
        )
    locked = AuditEvent.objects.select_for_update().get(pk=event.pk)
    changed = _redacted_values(locked, replacements)
    if not changed:
        return None
    _update_redacted(locked.pk, changed)
    redacted_hash = stored_content_hash(locked.pk)
    job_label = f"{job._meta.label_lower}:{job.pk}" if job is not None else ""
    record = audit_event_record(
        actor=principal,
        action=REDACT_ACTION,
        object_type="audit.auditevent",
        object_id=str(locked.pk),
        workspace_id=locked.workspace_id,
        after={
            "event_id": locked.pk,
            "seq": locked.chain_seq,
            "fields": sorted(changed),
            "original_hash": locked.hash,
            "redacted_hash": redacted_hash,
            "job": job_label,
        },
        reason=reason,
    )
    return AuditRedaction.objects.create(
        event=locked,
        workspace_id=locked.workspace_id,
        original_hash=locked.hash,
        redacted_hash=redacted_hash,
        fields=sorted(changed),
        redaction_event=record,
        job=job_label,
    )


def audit_event_unmasked_fields(event: AuditEvent) -> list[str]:
    """The redactable fields of `event` that masking its stored values would change (what
    an operator's redaction would touch; nothing is written)."""
    current = {name: getattr(event, name) for name in REDACTABLE_FIELDS}
    return sorted(_redacted_values(event, current))


def _redacted_values(event: AuditEvent, replacements: dict[str, Any]) -> dict[str, Any]:
    """The replacements masked as audit_event_record masks (one document), keeping those
    that differ from what is stored."""
    document = {
        name: _json_value(value) if name in ("before", "after") and value is not None else value
        for name, value in replacements.items()
    }
    if not all(isinstance(document[n], str) for n in ("reason", "object_repr") if n in document):
        raise ValidationFailed("reason and object_repr are text.")
    masked = _masked(event.workspace_id, document)
    if "object_repr" in masked:
        masked["object_repr"] = masked["object_repr"][:200]
    return {name: value for name, value in masked.items() if value != getattr(event, name)}


def _update_redacted(event_id: int, values: dict[str, Any]) -> None:
    """The one UPDATE the append-only trigger lets through: this row, under the setting that
    names it, chain columns untouched (migration audit.0006). The setting is reset after."""
    fields: list[Any] = [AuditEvent._meta.get_field(name) for name in values]
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
    params = [f.get_db_prep_save(values[f.name], connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('steward.audit_redact', %s, true)", [str(event_id)])
        cursor.execute(
            f"UPDATE audit_auditevent SET {assignments} WHERE id = %s",  # noqa: S608 - field names
            [*params, event_id],
        )
        cursor.execute("SELECT set_config('steward.audit_redact', '', true)")
