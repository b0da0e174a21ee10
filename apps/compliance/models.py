"""Compliance: keyed fingerprints of masked values, data-subject erasure, retention rules and
audit-trail exports. See docs/compliance.md for why each is shaped the way it is."""

from __future__ import annotations

from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.workspaces.models import ScopedQuerySet, Workspace, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action


class ComplianceQuerySet(ScopedQuerySet):
    """Compliance records are read by whoever may audit the workspace (auditors, admins,
    owners) and changed by whoever may manage it; team roles never reach them."""

    def for_user(self, principal: Principal, action: str) -> Self:
        wanted = Action.AUDIT if action == Action.VIEW else action
        return self.filter(workspace_id__in=workspace_ids_for(principal.required_user, wanted))


class PiiFingerprint(models.Model):
    """One masked value of a subject-identifying type (e-mail, phone) in one stored field.

    `fingerprint` is an HMAC-SHA256 (PII hash key, workspace-bound) of the normalised value, so
    an erasure request can find the rows of a subject even where a placeholder replaced the
    value. `token` is what the masking wrote in place of the value (`<EMAIL_1>`, a hash or an
    encrypted token), which is what scrubbing replaces.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=16)
    model_label = models.CharField(max_length=80)
    field_name = models.CharField(max_length=60)
    object_id = models.BigIntegerField()
    token = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ComplianceQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "fingerprint"], name="pii_fp_lookup"),
            models.Index(fields=["model_label", "object_id"], name="pii_fp_object"),
        ]

    def __str__(self) -> str:
        return f"{self.entity_type} in {self.model_label}#{self.object_id}.{self.field_name}"


class ErasureStatus(models.TextChoices):
    PLANNED = "planned", "Dry run done, awaiting approval"
    APPROVED = "approved", "Approved, queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"


class ErasureRequest(models.Model):
    """A data subject's request to be forgotten in one workspace: the dry run's plan, the
    four-eyes approval, the execution's progress and the report.

    Only fingerprints of the identifiers are kept for good. Between the dry run and the end of
    the execution the normalised identifiers are also kept AES-GCM-sealed (`sealed_subject`)
    so the worker can search again; the seal is wiped when the request ends.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=10, choices=ErasureStatus.choices, default=ErasureStatus.PLANNED
    )
    subject_label = models.CharField(max_length=300, help_text="Masked form, for people.")
    subject_fingerprints = models.JSONField(default=list)
    sealed_subject = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    plan = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    tombstone_event_id = models.BigIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ComplianceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["workspace", "-id"], name="erasure_ws_id")]

    def __str__(self) -> str:
        return f"Erasure #{self.pk} ({self.subject_label})"

    def as_progress(self) -> dict[str, Any]:
        percent = 100 if self.status == ErasureStatus.DONE else 0
        if self.total and self.status != ErasureStatus.DONE:
            percent = min(100, int(self.processed * 100 / self.total))
        return {"value": percent, "description": f"{self.processed}/{self.total}"}


class RetentionRule(models.Model):
    """How long a workspace keeps one kind of record (a target of apps.compliance.registry)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    target = models.CharField(max_length=80)
    keep_days = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_deleted = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ComplianceQuerySet.as_manager()

    class Meta:
        ordering = ["workspace_id", "target"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "target"], name="retention_one_per_target"
            ),
            models.CheckConstraint(condition=Q(keep_days__gte=1), name="retention_keep_days_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.target}: {self.keep_days} days"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class ExportJob(models.Model):
    """An auditor's export of one workspace's audit trail, built by a worker in chunks stored
    in the database (web and worker need no shared disk), with the chain verification."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    format = models.CharField(max_length=5, choices=ExportFormat.choices)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    last_id = models.BigIntegerField(default=0)
    verification = models.JSONField(null=True, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ComplianceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Audit export #{self.pk} ({self.format})"

    @property
    def filename(self) -> str:
        return f"audit-{self.workspace_id}-{self.pk}.{self.format}"

    def as_progress(self) -> dict[str, Any]:
        percent = 100 if self.status == ExportStatus.DONE else 0
        if self.total and self.status != ExportStatus.DONE:
            percent = min(100, int(self.processed * 100 / self.total))
        return {"value": percent, "description": f"{self.processed}/{self.total}"}


class ExportChunk(models.Model):
    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="export_chunk_seq_unique")
        ]

    def __str__(self) -> str:
        return f"chunk {self.seq} of export {self.job_id}"
