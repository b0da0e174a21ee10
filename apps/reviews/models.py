"""The review queue: one ReviewRequest for every decision a person must take.

A request is about one subject, owned by another app that registers a handler for its kind
(apps.reviews.kinds): a memory (a proposal, an agent's edit, a promotion) or a conflict between
two memories (the `memory` / `conflict` foreign keys, kept from before the queue was generic),
or anything else by `subject_id` (a policy version; the kind says which table). `team` is the
team whose reviewers decide it (empty: the workspace's reviewers), so scoping is one indexed
filter, the same for the admin, the API and the services.
"""

from __future__ import annotations

import datetime as dt
from typing import Self

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.reviews.kinds import review_kinds, union
from apps.workspaces.models import ScopedQuerySet, team_ids_for, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action

DEFAULT_SLA_HOURS = 48


class Kind(models.TextChoices):
    MEMORY = "memory", "Proposed memory"
    EDIT = "edit", "Edit proposed by an agent"
    PROMOTION = "promotion", "Promotion to a higher tier"
    CONFLICT = "conflict", "Conflict between two memories"
    POLICY_VERSION = "policy_version", "Policy version"
    EXPERIMENT_RESULT = "experiment_result", "Experiment result"
    EXPERIMENT_START = "experiment_start", "Experiment start"


class ReviewTier(models.TextChoices):
    """The level a decision affects, which the four-eyes setting names. Memories' tiers use
    these values; other kinds map onto them (a policy for one agent: personal)."""

    PERSONAL = "personal", "Personal (one agent)"
    TEAM = "team", "Team"
    WORKSPACE = "workspace", "Workspace"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a decision"
    DECIDED = "decided", "Decided"


class Decision(models.TextChoices):
    APPROVED = "approved", "Approved"
    EDITED = "edited", "Edited and approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    PROMOTED = "promoted", "Promoted"
    MERGED = "merged", "Merged"
    WITHDRAWN = "withdrawn", "Closed elsewhere"


class Priority(models.IntegerChoices):
    LOW = 0, "Low"
    NORMAL = 1, "Normal"
    HIGH = 2, "High"
    URGENT = 3, "Urgent"


class ReviewRequestQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        return self.filter(
            Q(workspace_id__in=workspace_ids_for(user, action))
            | Q(team_id__in=team_ids_for(user, action))
        )

    def for_agent(self, principal: Principal, action: str) -> Self:
        """An agent reads the requests it made and those each kind lets it read (about its own
        memories)."""
        if action != Action.VIEW:
            return self.none()
        agent = principal.required_agent
        mine = union(
            [Q(requested_by_agent_id=agent.pk)] + [k.agent_visible(agent) for k in review_kinds()]
        )
        return self.filter(workspace_id=agent.workspace_id).filter(mine)

    def pending(self) -> Self:
        return self.filter(status=RequestStatus.PENDING)


class ReviewRequest(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="review_requests"
    )
    team = models.ForeignKey(
        "workspaces.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="review_requests",
        help_text="Whose reviewers decide; empty for the workspace's reviewers.",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    tier = models.CharField(max_length=10, help_text="The tier the decision affects.")
    memory = models.ForeignKey(
        "memories.MemoryItem",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="review_requests",
    )
    conflict = models.ForeignKey(
        "memories.MemoryConflict",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="review_requests",
    )
    subject_id = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="The subject of kinds without their own column (a policy version's id).",
    )
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="Kind-specific: the version an edit started from, a promotion's target.",
    )
    requested_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_agent = models.ForeignKey(
        "workspaces.Agent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="review_requests",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_reviews",
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    decision = models.CharField(max_length=20, choices=Decision.choices, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by_label = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-priority", "created_at", "id"]
        indexes = [
            models.Index(
                fields=["workspace", "team", "-priority", "created_at"],
                name="review_pending_queue",
                condition=Q(status="pending"),
            ),
            # The queue's order (priority, then age) straight from an index, within one
            # workspace (its reviewers) and across all (operators): the first page of 100,000
            # waiting requests without sorting them all (bench/admin).
            models.Index(
                fields=["workspace", "-priority", "created_at", "id"],
                name="review_queue_ws_order",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["-priority", "created_at", "id"],
                name="review_queue_order",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["team", "-priority", "created_at", "id"],
                name="review_queue_team_order",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["memory", "status"], name="review_memory_status"),
            models.Index(fields=["requested_by_agent", "-id"], name="review_by_agent"),
            models.Index(
                fields=["kind", "subject_id"],
                name="review_kind_subject",
                condition=Q(subject_id__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["memory", "kind"],
                condition=Q(status="pending"),
                name="review_one_pending_per_memory_kind",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decision="")
                | (Q(status="decided") & ~Q(decision="")),
                name="review_decision_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"review #{self.pk}: {self.get_kind_display()}"

    def requested_by_label(self) -> str:
        return str(self.requested_by_agent or self.requested_by_user or "system")


class ReviewSettingsQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        return self.filter(workspace_id__in=workspace_ids_for(principal.required_user, action))


def default_four_eyes_tiers() -> list[str]:
    return ["workspace"]


class ReviewSettings(models.Model):
    """Per workspace: how long a request may wait, and where two people must agree."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="review_settings"
    )
    sla_hours = models.PositiveIntegerField(
        default=DEFAULT_SLA_HOURS, help_text="A request waiting longer is overdue."
    )
    four_eyes_tiers = ArrayField(
        models.CharField(max_length=10),
        default=default_four_eyes_tiers,
        blank=True,
        help_text="Tiers where whoever requested or edited may not also approve.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReviewSettingsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "review settings"

    def __str__(self) -> str:
        return f"review settings of workspace {self.workspace_id}"

    @property
    def sla(self) -> dt.timedelta:
        return dt.timedelta(hours=self.sla_hours)


class EditPairQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        return self.filter(request__in=ReviewRequest.objects.for_user(principal, action))


class EditPair(models.Model):
    """What an agent proposed and what a person made of it: a supervised example for datasets
    (SFT targets, DPO chosen/rejected pairs). Both texts are stored masked, as the memory."""

    request = models.ForeignKey(ReviewRequest, on_delete=models.CASCADE, related_name="edit_pairs")
    memory = models.ForeignKey(
        "memories.MemoryItem", on_delete=models.CASCADE, related_name="edit_pairs"
    )
    from_version = models.PositiveIntegerField()
    to_version = models.PositiveIntegerField()
    original = models.TextField()
    edited = models.TextField()
    diff = models.TextField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = EditPairQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"edit of #{self.memory_id} v{self.from_version} -> v{self.to_version}"
