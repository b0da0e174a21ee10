"""A workspace's masking rules (PrivacyPolicy) and its re-scan jobs (PiiScanJob)."""

from __future__ import annotations

from typing import Any, Self

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from apps.privacy.engine import DEFAULT_ENTITIES, EntityType, MaskingPolicy, Operator
from apps.privacy.engine.policy import DEFAULT_PHONE_REGIONS
from apps.workspaces.models import ScopedQuerySet, Workspace
from apps.workspaces.principal import Principal

ENTITY_CHOICES = [(entity.value, entity.value.replace("_", " ").title()) for entity in EntityType]
OPERATOR_CHOICES = [(operator.value, operator.value.title()) for operator in Operator]
REVEAL_PERMISSION = "reveal_pii"


def default_entities() -> list[str]:
    return sorted(entity.value for entity in DEFAULT_ENTITIES)


def default_phone_regions() -> list[str]:
    return list(DEFAULT_PHONE_REGIONS)


class WorkspaceScopedQuerySet(ScopedQuerySet):
    """Rows belong to one workspace and follow its scoping: view -> view, change -> manage."""

    def for_user(self, principal: Principal, action: str) -> Self:
        workspaces = Workspace.objects.for_user(principal, action).values("pk")
        return self.filter(workspace_id__in=workspaces)


class PrivacyPolicy(models.Model):
    """What a workspace masks and how. One per workspace, created with defaults on first use.

    Reveal rights are guardian object permissions (`reveal_pii`) on this row.
    """

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="privacy_policy"
    )
    entities = ArrayField(
        models.CharField(max_length=16, choices=ENTITY_CHOICES), default=default_entities
    )
    operators = models.JSONField(
        default=dict, blank=True, help_text="Entity type -> operator; others use the default."
    )
    default_operator = models.CharField(
        max_length=16, choices=OPERATOR_CHOICES, default=Operator.PLACEHOLDER.value
    )
    allow_values = ArrayField(models.CharField(max_length=254), default=list, blank=True)
    allow_patterns = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    phone_regions = ArrayField(models.CharField(max_length=2), default=default_phone_regions)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WorkspaceScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "privacy policy"
        verbose_name_plural = "privacy policies"
        ordering = ["workspace_id"]
        permissions = [(REVEAL_PERMISSION, "Reveal encrypted PII in this workspace")]

    def __str__(self) -> str:
        return f"Privacy policy of {self.workspace}" if self.workspace_id else "Privacy policy"

    def to_masking_policy(self) -> MaskingPolicy:
        """The engine's policy; raises PIIConfigError for rules the engine can't use."""
        return masking_policy_from(
            entities=self.entities,
            operators=self.operators,
            default_operator=self.default_operator,
            allow_values=self.allow_values,
            allow_patterns=self.allow_patterns,
            phone_regions=self.phone_regions,
        )


def masking_policy_from(
    *,
    entities: list[str],
    operators: dict[str, str],
    default_operator: str,
    allow_values: list[str],
    allow_patterns: list[str],
    phone_regions: list[str],
) -> MaskingPolicy:
    """One translation from stored (or submitted, unsaved) rules to the engine's policy."""
    return MaskingPolicy(
        entities=frozenset(EntityType(e) for e in entities),
        operators={EntityType(k): Operator(v) for k, v in operators.items()},
        default_operator=Operator(default_operator),
        allow_values=frozenset(allow_values),
        allow_patterns=tuple(allow_patterns),
        phone_regions=tuple(phone_regions),
    )


class PrivacyPolicyUserObjectPermission(UserObjectPermissionBase):
    """guardian grant (reveal_pii) of one workspace's policy to one user."""

    content_object = models.ForeignKey(PrivacyPolicy, on_delete=models.CASCADE)


class PrivacyPolicyGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(PrivacyPolicy, on_delete=models.CASCADE)


class ScanStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (ScanStatus.QUEUED, ScanStatus.RUNNING)


class PiiScanJob(models.Model):
    """One re-scan of a workspace's stored text with its current policy, and its progress.

    The cursor (`current_field`, `last_id`) lets a retried task continue where it stopped.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    current_field = models.CharField(max_length=120, blank=True)
    last_id = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "PII re-scan"
        verbose_name_plural = "PII re-scans"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=Q(status__in=["queued", "running"]),
                name="pii_scan_one_active_per_ws",
            )
        ]

    def __str__(self) -> str:
        return f"Re-scan #{self.pk} of {self.workspace}"

    @property
    def percent(self) -> int:
        if self.status == ScanStatus.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, int(self.processed * 100 / self.total))

    def as_progress(self) -> dict[str, Any]:
        return {"value": self.percent, "description": f"{self.processed}/{self.total}"}
