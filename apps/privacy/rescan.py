"""Re-scanning stored text with the workspace's current policy (the work of a PiiScanJob).

A policy change (or an older Steward that masked less) can leave raw PII in rows written
before it. The job walks every registered field (apps.privacy.registry) in keyset batches by
primary key, one short transaction per batch: the rows of the batch are locked, masked, updated
only where the text changed, one audit event lists the changed ids, and the job's cursor and
counts move forward in the same transaction, so a retried task resumes exactly where the last
committed batch ended. Masking is idempotent (the engine leaves its own tokens alone), so
running a job again changes nothing. `bulk_update` sends no signals, so the batch reports the
rows it changed (apps.privacy.saved): erasure fingerprints get linked to them like to rows
saved by the services.

Append-only fields (the audit trail) are never bulk-updated: their rows are append-only and
hash-chained, and data-subject erasure keeps them too (apps.compliance.erasure lists them under
`kept`). Unmasked PII found in an event's before, after, reason or object_repr is redacted
(apps.audit.services.audit_event_redact: the masked text replaces the raw one, a chained
`audit.redact` event and a redaction record keep the chain verifying), and the batch's event
lists those events under `redacted_ids`; what can't be redacted (the actor's label) is named
under `kept_ids`, for an operator to act on. A masked value longer than its column is clipped
to fit (`clipped_ids`): the clipped text is masked, so no personal data is cut in two.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import REDACTABLE_FIELDS, audit_event_record, audit_event_redact
from apps.privacy.engine import DEFAULT_POLICY, PIIInputError
from apps.privacy.engine import text_mask as engine_text_mask
from apps.privacy.models import PiiScanJob, ScanStatus
from apps.privacy.policies import json_mask, max_length_of, text_mask
from apps.privacy.registry import MaskedField, masked_fields
from apps.privacy.saved import masked_rows_saved
from apps.privacy.services import pii_scan_job_claim
from apps.workspaces.principal import Principal

SCAN_ACTOR = Principal.system("pii-rescan")


def _rows(field: MaskedField, workspace_id: int) -> Any:
    return field.rows(workspace_id)


class _Masker:
    """Masks one field's values with the workspace's policy, clipping to the column and
    remembering whether it had to (the batch's audit event names clipped rows)."""

    def __init__(self, field: MaskedField, workspace_id: int) -> None:
        self.field, self.workspace_id = field, workspace_id
        self.limit = max_length_of(field.model, field.field_name)
        self.clipped = False

    def text(self, value: str) -> str:
        masked = text_mask(self.workspace_id, value).text
        if self.limit is not None and len(masked) > self.limit:
            self.clipped = True
            return masked[: self.limit]
        return masked

    def value(self, value: Any) -> Any:
        self.clipped = False
        if value is None:
            return value
        if self.field.kind == "json":
            return json_mask(self.workspace_id, value).value
        if self.field.kind == "array":
            if not isinstance(value, list):
                return value
            return [self.text(item) if isinstance(item, str) else item for item in value]
        return self.text(value) if isinstance(value, str) else value


@transaction.atomic
def pii_rescan_batch(*, job_id: int, field: MaskedField, after_id: int, size: int) -> int | None:
    """Mask one batch of `field` after primary key `after_id`; the last id done, or None when
    the field has no rows left."""
    job = PiiScanJob.objects.select_for_update().get(pk=job_id)
    rows_of = _rows(field, job.workspace_id)
    if not field.append_only:
        rows_of = rows_of.select_for_update(of=("self",))
    rows = list(rows_of.filter(pk__gt=after_id).order_by("pk").only("pk", field.field_name)[:size])
    if not rows:
        return None
    changed, unscannable, clipped = [], [], []
    masker = _Masker(field, job.workspace_id)
    for row in rows:
        before = getattr(row, field.field_name)
        try:
            after = masker.value(before)
        except PIIInputError:
            unscannable.append(row.pk)
            continue
        if after != before:
            setattr(row, field.field_name, after)
            changed.append(row)
            if masker.clipped and not field.append_only:
                clipped.append(row.pk)
    redacted, kept = _append_only_repair(job, field, changed) if field.append_only else ([], [])
    if changed and not field.append_only:
        field.model._base_manager.bulk_update(changed, [field.field_name])
        masked_rows_saved(workspace_id=job.workspace_id, rows=changed, fields=[field.field_name])
    else:
        changed = []
    if changed or unscannable or kept or redacted:
        found = {
            "unscannable_ids": unscannable,
            "clipped_ids": clipped,
            "kept_ids": kept,
            "redacted_ids": redacted,
        }
        _audit_batch(job, field, (after_id, rows[-1].pk), changed, found)
    PiiScanJob.objects.filter(pk=job.pk).update(
        processed=F("processed") + len(rows),
        changed=F("changed") + len(changed) + len(redacted),
        current_field=field.label,
        last_id=rows[-1].pk,
        updated_at=timezone.now(),
    )
    return int(rows[-1].pk)


def _append_only_repair(
    job: PiiScanJob, field: MaskedField, rows: list[Any]
) -> tuple[list[int], list[int]]:
    """(redacted ids, kept ids): audit events are redacted through the audit app's service,
    one field at a time (each redaction chained); other append-only fields are reported."""
    if field.model is not AuditEvent or field.field_name not in REDACTABLE_FIELDS:
        return [], [row.pk for row in rows]
    redacted = []
    for row in rows:
        redaction = audit_event_redact(
            actor=SCAN_ACTOR,
            event=row,
            replacements={field.field_name: getattr(row, field.field_name)},
            reason=f"PII re-scan job {job.pk}: {field.label}",
            job=job,
        )
        if redaction is not None:
            redacted.append(int(row.pk))
    return redacted, []


def _audit_batch(
    job: PiiScanJob,
    field: MaskedField,
    span: tuple[int, int],
    changed: list[Any],
    found: dict[str, list[int]],
) -> None:
    """One event per batch that found something: ids only, never a value."""
    after: dict[str, Any] = {
        "field": field.label,
        "changed_ids": [row.pk for row in changed],
        "unscannable_ids": found["unscannable_ids"],
        "from_id": span[0],
        "to_id": span[1],
    }
    after.update({name: ids for name, ids in found.items() if ids and name != "unscannable_ids"})
    audit_event_record(
        actor=SCAN_ACTOR,
        action="pii.rescan_batch",
        obj=job,
        workspace_id=job.workspace_id,
        after=after,
    )


def _count_total(job: PiiScanJob) -> None:
    total = sum(_rows(field, job.workspace_id).count() for field in masked_fields())
    PiiScanJob.objects.filter(pk=job.pk).update(total=total, updated_at=timezone.now())


def pii_rescan_execute(*, job_id: int, batch_size: int | None = None) -> bool:
    """Run a claimed job to the end. False when another worker has it (or it is finished)."""
    if not pii_scan_job_claim(job_id):
        return False
    job = PiiScanJob.objects.get(pk=job_id)
    if not job.current_field:
        _count_total(job)
    size = batch_size or settings.PII_RESCAN_BATCH_SIZE
    fields = masked_fields()
    labels = [field.label for field in fields]
    start = labels.index(job.current_field) if job.current_field in labels else 0
    for field in fields[start:]:
        cursor: int | None = job.last_id if field.label == job.current_field else 0
        while cursor is not None:
            cursor = pii_rescan_batch(job_id=job_id, field=field, after_id=cursor, size=size)
    PiiScanJob.objects.filter(pk=job_id).update(
        status=ScanStatus.DONE, finished_at=timezone.now(), updated_at=timezone.now()
    )
    return True


def pii_scan_job_requeue(job_id: int) -> None:
    """Before a retry: the next attempt claims the job again and resumes from its cursor."""
    PiiScanJob.objects.filter(pk=job_id, status=ScanStatus.RUNNING).update(
        status=ScanStatus.QUEUED, updated_at=timezone.now()
    )


def pii_scan_job_fail(job_id: int, exc: BaseException) -> None:
    """Record why the job stopped; the message is masked (database errors quote values)."""
    message = f"{type(exc).__name__}: {exc}"[:2000]
    try:
        message = engine_text_mask(message, DEFAULT_POLICY).text
    except PIIInputError:
        message = type(exc).__name__
    PiiScanJob.objects.filter(pk=job_id).update(
        status=ScanStatus.FAILED, error=message, finished_at=timezone.now()
    )
