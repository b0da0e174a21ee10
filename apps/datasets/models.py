"""Training datasets: versioned, reproducible exports of verified examples (human edits and
outcome-verified traces) as OpenAI chat fine-tuning JSONL or TRL preference pairs.

A `DatasetVersion` records its filter (the query) and, once built, its snapshot (the cutoff
time and the highest trace, feedback and outcome ids it read), so a rebuild reads exactly the
same rows and writes the same bytes. The file is stored in the database as `DatasetChunk`
rows (web and worker need no shared disk, as the audit-trail exports; deleting a version
deletes its file). A built version never changes; a rebuild is a new version.

Scoping: training data is sensitive. Owners and admins (manage) build and download;
auditors read the metadata (the filter, the snapshot, counts and checksum), not the file;
agents see nothing.
"""

from __future__ import annotations

from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.workspaces.models import ScopedQuerySet, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action


class DatasetFormat(models.TextChoices):
    OPENAI_CHAT_SFT = "openai_chat_sft", "OpenAI chat fine-tuning (SFT, JSONL)"
    TRL_DPO = "trl_dpo", "TRL preference pairs (DPO: prompt, chosen, rejected)"


class DatasetStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DatasetQuerySet(ScopedQuerySet):
    """Viewing needs the audit right (auditors, admins, owners: the metadata); anything else
    (build, rebuild, download) the manage right. Team roles and agents never reach them."""

    workspace_path = "workspace_id"

    def for_user(self, principal: Principal, action: str) -> Self:
        wanted = Action.AUDIT if action == Action.VIEW else action
        ids = workspace_ids_for(principal.required_user, wanted)
        return self.filter(**{f"{self.workspace_path}__in": ids})

    def for_agent(self, principal: Principal, action: str) -> Self:
        return self.none()


class DatasetChunkQuerySet(DatasetQuerySet):
    workspace_path = "version__workspace_id"


class DatasetVersion(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="dataset_versions"
    )
    name = models.CharField(max_length=200)
    format = models.CharField(max_length=20, choices=DatasetFormat.choices)
    filter = models.JSONField(
        default=dict,
        blank=True,
        help_text="The query: verified_only, agents, task_kinds, started_from, started_until "
        "(apps.datasets.filters).",
    )
    snapshot = models.JSONField(
        null=True,
        blank=True,
        help_text="Recorded when first built: cutoff, max_trace_id, max_feedback_id, "
        "max_outcome_id. A rebuild reuses it.",
    )
    status = models.CharField(
        max_length=10, choices=DatasetStatus.choices, default=DatasetStatus.QUEUED
    )
    rows_done = models.PositiveIntegerField(default=0, help_text="Traces read so far.")
    rows_total = models.PositiveIntegerField(default=0, help_text="Traces to read.")
    row_count = models.PositiveIntegerField(default=0, help_text="Examples written.")
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True)
    rebuilt_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rebuilds"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["workspace", "-id"], name="dataset_ws_recent")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="ready") | Q(snapshot__isnull=False),
                name="dataset_ready_has_snapshot",
            )
        ]

    def __str__(self) -> str:
        return f"dataset #{self.pk} ({self.format})"

    @property
    def filename(self) -> str:
        return f"dataset-{self.workspace_id}-{self.pk}-{self.format}.jsonl"

    @property
    def is_active(self) -> bool:
        return self.status in (DatasetStatus.QUEUED, DatasetStatus.BUILDING)

    def as_progress(self) -> dict[str, Any]:
        percent = 100 if self.status == DatasetStatus.READY else 0
        if self.rows_total and self.status != DatasetStatus.READY:
            percent = min(100, int(self.rows_done * 100 / self.rows_total))
        return {"value": percent, "description": f"{self.rows_done}/{self.rows_total}"}


class DatasetChunk(models.Model):
    """A slice of a version's file, ending at a row's end (a row is never split, so erasure's
    text search sees each row whole)."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.TextField()

    objects = DatasetChunkQuerySet.as_manager()

    class Meta:
        ordering = ["version_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["version", "seq"], name="dataset_chunk_seq_unique")
        ]

    def __str__(self) -> str:
        return f"chunk {self.seq} of dataset {self.version_id}"


class DatasetSubjectToken(models.Model):
    """A hash or encrypted token found in the stored text a version's rows were built from.
    The file carries only typed placeholders, so this is how erasure finds the versions that
    hold a data subject's rows (it searches these tokens as it searches traces) and deletes
    them. Placeholder-masked text holds nothing of the subject, here as in the traces."""

    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="subject_tokens"
    )
    token = models.CharField(max_length=300)

    objects = DatasetChunkQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "token"], name="dataset_token_unique")
        ]

    def __str__(self) -> str:
        return f"token of dataset {self.version_id}"
