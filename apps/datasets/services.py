"""Dataset versions: create (queue a build), build (the worker's part, also called by the demo
seed), rebuild (a new version with the same query and snapshot), download. Each audited."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import F, Q

from apps.audit.services import audit_event_record
from apps.core import clock
from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.outbox import outbox_enqueue
from apps.datasets import rows
from apps.datasets.filters import clean_filter
from apps.datasets.models import (
    DatasetChunk,
    DatasetFormat,
    DatasetStatus,
    DatasetSubjectToken,
    DatasetVersion,
)
from apps.privacy.policies import field_mask
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

BUILD_ACTOR = Principal.system("datasets-build")
MAX_NAME = 200


def _summary(version: DatasetVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "format": version.format,
        "filter": version.filter,
        "snapshot": version.snapshot,
    }


def _enqueue(version: DatasetVersion) -> None:
    outbox_enqueue("datasets.build", args=[version.pk])


@transaction.atomic
def dataset_version_create(
    *,
    actor: Any,
    workspace: Workspace,
    name: str,
    format: str,
    filter: dict[str, Any] | None = None,
) -> DatasetVersion:
    """Queue a build of a new dataset. Owners and admins: training data leaves Steward."""
    require(actor, Action.MANAGE, workspace)
    if format not in DatasetFormat.values:
        raise ValidationFailed(
            f"Unknown format; use one of {', '.join(DatasetFormat.values)}.",
            fields={"format": ["Unknown format."]},
        )
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValidationFailed("name: 1 to 200 characters.", fields={"name": ["Required."]})
    version = DatasetVersion.objects.create(
        workspace=workspace,
        name=field_mask(workspace, DatasetVersion, "name", name.strip()),
        format=format,
        filter=clean_filter(workspace, filter),
        created_by=as_principal(actor).user,
    )
    audit_event_record(
        actor=actor,
        action="datasets.build",
        obj=version,
        workspace_id=workspace.pk,
        after=_summary(version),
    )
    _enqueue(version)
    return version


@transaction.atomic
def dataset_version_rebuild(*, actor: Any, version: DatasetVersion) -> DatasetVersion:
    """A new version with the same format, filter and snapshot: the same rows and, unless
    erasure or retention removed some since (or the holdout grew), the same bytes."""
    require(actor, Action.MANAGE, version)
    if version.snapshot is None:
        raise Conflict("This version has not been built yet: nothing to reproduce.")
    copy = DatasetVersion.objects.create(
        workspace_id=version.workspace_id,
        name=version.name,
        format=version.format,
        filter=version.filter,
        snapshot=version.snapshot,
        rebuilt_from=version,
        created_by=as_principal(actor).user,
    )
    audit_event_record(
        actor=actor,
        action="datasets.rebuild",
        obj=copy,
        workspace_id=copy.workspace_id,
        after={**_summary(copy), "rebuilt_from": version.pk},
    )
    _enqueue(copy)
    return copy


# --- the worker's part -------------------------------------------------------------------------


def dataset_build_claim(version_id: int) -> bool:
    """Queued -> building; a version left building (a lost worker) is built again from the
    start (the file is rewritten whole, so the bytes are the same)."""
    if DatasetVersion.objects.filter(id=version_id, status=DatasetStatus.QUEUED).update(
        status=DatasetStatus.BUILDING, started_at=clock.now()
    ):
        return True
    return DatasetVersion.objects.filter(id=version_id, status=DatasetStatus.BUILDING).exists()


class ChunkWriter:
    """A file stored as DatasetChunk rows: lines are buffered and written as one chunk per
    `flush`; the checksum and size are kept as it goes (nothing else is held)."""

    def __init__(self, version_id: int) -> None:
        self.version_id = version_id
        self.buffer: list[str] = []
        self.seq = 0
        self.size = 0
        self.rows = 0
        self.digest = hashlib.sha256()

    def write(self, line: str) -> None:
        self.buffer.append(line)
        self.rows += 1

    def flush(self) -> None:
        if not self.buffer:
            return
        data = "".join(self.buffer)
        encoded = data.encode("utf-8")
        self.digest.update(encoded)
        self.size += len(encoded)
        DatasetChunk.objects.create(version_id=self.version_id, seq=self.seq, data=data)
        self.seq += 1
        self.buffer = []


def write_rows(writer: ChunkWriter, batches: Iterable[rows.Batch], on_batch: Any) -> None:
    """Consume the batches one at a time: each one's lines go to the writer and are flushed
    with the batch's progress in one short transaction."""
    for batch in batches:
        with transaction.atomic():
            for line in batch.lines:
                writer.write(line)
            writer.flush()
            on_batch(batch)


def dataset_build(*, version_id: int) -> None:
    """Build the file: record the snapshot on the first build, count the traces to read, then
    write the rows batch by batch with progress, and finish with the checksum (audited)."""
    if not dataset_build_claim(version_id):
        return
    version = DatasetVersion.objects.select_related("workspace").get(pk=version_id)
    with transaction.atomic():
        if version.snapshot is None:
            version.snapshot = rows.snapshot_now(version.workspace_id)
        DatasetChunk.objects.filter(version_id=version_id).delete()
        DatasetSubjectToken.objects.filter(version_id=version_id).delete()
        version.rows_total = rows.filtered_traces(version).count()
        version.rows_done = 0
        version.save(update_fields=["snapshot", "rows_total", "rows_done", "updated_at"])
    writer = ChunkWriter(version_id)

    def progress(batch: rows.Batch) -> None:
        _link_subjects(version, batch)
        DatasetSubjectToken.objects.bulk_create(
            [DatasetSubjectToken(version_id=version_id, token=t) for t in sorted(batch.tokens)],
            ignore_conflicts=True,
        )
        DatasetVersion.objects.filter(pk=version_id).update(rows_done=F("rows_done") + batch.traces)

    write_rows(writer, rows.batches(version), progress)
    _finish(version_id, writer)


def _link_subjects(version: DatasetVersion, batch: rows.Batch) -> None:
    """The fingerprints (e-mail, phone) linked to the traces and feedback just written become
    the version's, so erasure finds the version wherever it finds its sources by fingerprint
    (rows a re-scan linked; the bulk ingestion links none, see docs/compliance.md)."""
    from apps.compliance.models import PiiFingerprint

    label = "datasets.DatasetVersion"
    sources = PiiFingerprint.objects.filter(
        Q(model_label="signals.Trace", object_id__in=batch.trace_ids)
        | Q(model_label="signals.Feedback", object_id__in=batch.feedback_ids),
        workspace_id=version.workspace_id,
    )
    found = set(sources.values_list("fingerprint", "entity_type").distinct())
    known = set(
        PiiFingerprint.objects.filter(
            model_label=label,
            object_id=version.pk,
            fingerprint__in=[fingerprint for fingerprint, _ in found],
        ).values_list("fingerprint", "entity_type")
    )
    PiiFingerprint.objects.bulk_create(
        PiiFingerprint(
            workspace_id=version.workspace_id,
            fingerprint=fingerprint,
            entity_type=entity,
            model_label=label,
            field_name="file",
            object_id=version.pk,
        )
        for fingerprint, entity in sorted(found - known)
    )


@transaction.atomic
def _finish(version_id: int, writer: ChunkWriter) -> None:
    version = DatasetVersion.objects.select_for_update().get(pk=version_id)
    if version.status != DatasetStatus.BUILDING:
        return
    version.status = DatasetStatus.READY
    version.row_count = writer.rows
    version.sha256 = writer.digest.hexdigest()
    version.size_bytes = writer.size
    version.finished_at = clock.now()
    version.save(
        update_fields=["status", "row_count", "sha256", "size_bytes", "finished_at", "updated_at"]
    )
    audit_event_record(
        actor=BUILD_ACTOR,
        action="datasets.build_ready",
        obj=version,
        workspace_id=version.workspace_id,
        after={
            "rows": version.row_count,
            "sha256": version.sha256,
            "size_bytes": version.size_bytes,
            "snapshot": version.snapshot,
        },
    )


@transaction.atomic
def dataset_build_fail(version_id: int, error: BaseException) -> None:
    """A building version fails with the error's class name (a database error's message can
    quote the data); its partial file is removed."""
    version = (
        DatasetVersion.objects.select_for_update()
        .filter(pk=version_id, status=DatasetStatus.BUILDING)
        .first()
    )
    if version is None:
        return
    DatasetChunk.objects.filter(version_id=version_id).delete()
    version.status = DatasetStatus.FAILED
    version.error = type(error).__name__[:200]
    version.finished_at = clock.now()
    version.save(update_fields=["status", "error", "finished_at", "updated_at"])
    audit_event_record(
        actor=BUILD_ACTOR,
        action="datasets.build_fail",
        obj=version,
        workspace_id=version.workspace_id,
        after={"error": version.error},
    )


# --- download ----------------------------------------------------------------------------------


@transaction.atomic
def dataset_download(*, actor: Any, version: DatasetVersion) -> Iterator[bytes]:
    """The file's chunks as bytes, one chunk read at a time, for owners and admins; the
    download is audited."""
    require(actor, Action.MANAGE, version)
    if version.status != DatasetStatus.READY:
        raise Conflict("This dataset is not built yet.")
    audit_event_record(
        actor=actor,
        action="datasets.download",
        obj=version,
        workspace_id=version.workspace_id,
        after={"sha256": version.sha256, "rows": version.row_count},
    )
    chunk_ids = list(version.chunks.order_by("seq").values_list("pk", flat=True))
    return _chunks(chunk_ids)


def _chunks(chunk_ids: list[int]) -> Iterator[bytes]:
    for pk in chunk_ids:
        data = DatasetChunk.objects.filter(pk=pk).values_list("data", flat=True).first()
        if data is not None:
            yield data.encode("utf-8")
