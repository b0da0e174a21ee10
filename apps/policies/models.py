"""Policies, prompts and skills: artifacts with immutable versions and labels that point at them.

An artifact is one of three kinds (a policy pack, a prompt, a skill) defined at one partition
level: the workspace, a team or one agent. Artifacts of the same kind and name at a lower level
override the higher ones for the agents they cover (agent > team > workspace), label by label.
A version never changes once saved (a database trigger refuses it: see migration 0002); editing
an artifact saves a new version. Labels (`production`, `staging`, any other) point at versions;
every move is a LabelEvent, so an artifact's label history is part of the artifact.

Scoping follows apps.workspaces: `objects.visible_to(principal, action)`; a team-level or
agent-level artifact is also visible to the roles of its team.
"""

from __future__ import annotations

from typing import Self

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.workspaces.models import ScopedQuerySet, Team, team_ids_for, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action

PRODUCTION = "production"
STAGING = "staging"


class ArtifactKind(models.TextChoices):
    POLICY_PACK = "policy_pack", "Policy pack"
    PROMPT = "prompt", "Prompt"
    SKILL = "skill", "Skill"


class PackKind(models.TextChoices):
    BRAND = "brand", "Brand"
    LEGAL = "legal", "Legal"
    DATA = "data", "Data"
    CHANNEL = "channel", "Channel"
    CUSTOM = "custom", "Custom"


class Level(models.TextChoices):
    """Where an artifact is defined; lower levels override higher ones (agent > team >
    workspace). The values are the review queue's tiers (personal = one agent)."""

    WORKSPACE = "workspace", "Workspace"
    TEAM = "team", "Team"
    AGENT = "agent", "Agent"


LEVEL_ORDER = {Level.AGENT: 0, Level.TEAM: 1, Level.WORKSPACE: 2}
REVIEW_TIER = {Level.WORKSPACE: "workspace", Level.TEAM: "team", Level.AGENT: "personal"}


class ArtifactScopedQuerySet(ScopedQuerySet):
    """Rows with `workspace` and `team` columns: visible by a workspace role, or a role on the
    row's team; an agent reads its workspace's rows of its own partitions."""

    prefix = ""  # the path to the artifact ("artifact__" for its versions, labels, events)

    def for_user(self, principal: Principal, action: str) -> Self:
        """Workspace roles see the workspace's rows, team roles their team's (team and agent
        levels); a team role also reads the workspace-level rows that apply to its team."""
        user = principal.required_user
        teams = team_ids_for(user, action)
        visible = Q(workspace_id__in=workspace_ids_for(user, action)) | Q(
            **{f"{self.prefix}team_id__in": teams}
        )
        if action == Action.VIEW:
            their_workspaces = Team.objects.filter(id__in=teams).values("workspace_id")
            visible |= Q(
                **{f"{self.prefix}level": Level.WORKSPACE, "workspace_id__in": their_workspaces}
            )
        return self.filter(visible)

    def for_agent(self, principal: Principal, action: str) -> Self:
        if action != Action.VIEW:
            return self.none()
        agent = principal.required_agent
        p = self.prefix
        mine = Q(**{f"{p}level": Level.WORKSPACE})
        if agent.team_id:
            mine |= Q(**{f"{p}level": Level.TEAM, f"{p}team_id": agent.team_id})
        mine |= Q(**{f"{p}level": Level.AGENT, f"{p}agent_id": agent.pk})
        return self.filter(workspace_id=agent.workspace_id).filter(mine)


class ArtifactPartQuerySet(ArtifactScopedQuerySet):
    prefix = "artifact__"


class Artifact(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="policy_artifacts"
    )
    kind = models.CharField(max_length=12, choices=ArtifactKind.choices)
    name = models.SlugField(
        max_length=80, help_text="Same kind and name at a lower level overrides this one."
    )
    pack_kind = models.CharField(
        max_length=10, choices=PackKind.choices, blank=True, help_text="Policy packs only."
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.WORKSPACE)
    team = models.ForeignKey(
        "workspaces.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="policy_artifacts",
        help_text="Team level: the team; agent level: the agent's team (for scoping).",
    )
    agent = models.ForeignKey(
        "workspaces.Agent",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="policy_artifacts",
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ArtifactScopedQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "name"],
                condition=Q(level="workspace"),
                name="policy_artifact_unique_workspace",
            ),
            models.UniqueConstraint(
                fields=["team", "kind", "name"],
                condition=Q(level="team"),
                name="policy_artifact_unique_team",
            ),
            models.UniqueConstraint(
                fields=["agent", "kind", "name"],
                condition=Q(level="agent"),
                name="policy_artifact_unique_agent",
            ),
            models.CheckConstraint(
                condition=(
                    Q(level="workspace", team__isnull=True, agent__isnull=True)
                    | Q(level="team", team__isnull=False, agent__isnull=True)
                    | Q(level="agent", agent__isnull=False)
                ),
                name="policy_artifact_level_matches_partition",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "level", "kind"], name="policy_art_ws")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name} ({self.partition_label})"

    @property
    def partition_label(self) -> str:
        if self.level == Level.AGENT:
            return f"agent {self.agent_id}"
        if self.level == Level.TEAM:
            return f"team {self.team_id}"
        return "workspace"


class ArtifactVersion(models.Model):
    """Immutable once saved (trigger policies_version_immutable): only the masked changelog
    message may be rewritten, by PII re-scans and erasure."""

    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="versions")
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    number = models.PositiveIntegerField()
    content = models.JSONField()
    content_hash = models.CharField(max_length=64)
    message = models.TextField(blank=True, help_text="Changelog: what changed and why (masked).")
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_agent = models.ForeignKey(
        "workspaces.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ArtifactPartQuerySet.as_manager()

    class Meta:
        ordering = ["artifact_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "number"], name="policy_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.artifact.name} v{self.number}"


class Label(models.Model):
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="labels")
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    name = models.SlugField(max_length=40)
    version = models.ForeignKey(ArtifactVersion, on_delete=models.CASCADE, related_name="labels")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ArtifactPartQuerySet.as_manager()

    class Meta:
        ordering = ["artifact_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "name"], name="policy_label_unique")
        ]
        indexes = [models.Index(fields=["workspace", "name"], name="policy_label_ws_name")]

    def __str__(self) -> str:
        return f"{self.artifact.name}@{self.name}"


class LabelEvent(models.Model):
    """One label move: before/after version, who, how (a direct move, an approved request, a
    rollback) and why. The history every reader of the artifact sees."""

    class How(models.TextChoices):
        SET = "set", "Moved directly (unprotected label)"
        APPROVED = "approved", "Moved on an approved review request"
        ROLLBACK = "rollback", "Rolled back to an earlier approved version"
        REMOVED = "removed", "Removed (unprotected label)"

    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="label_events")
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    label = models.SlugField(max_length=40)
    from_version = models.ForeignKey(
        ArtifactVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    to_version = models.ForeignKey(
        ArtifactVersion,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty when the label was removed.",
    )
    how = models.CharField(max_length=10, choices=How.choices)
    review_request = models.ForeignKey(
        "reviews.ReviewRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ArtifactPartQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["artifact", "label", "-id"], name="policy_label_history")]

    def __str__(self) -> str:
        return f"{self.label}: {self.from_version_id} -> {self.to_version_id}"


class PolicySettingsQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        return self.filter(workspace_id__in=workspace_ids_for(principal.required_user, action))


class PolicySettings(models.Model):
    """Per workspace: which labels need an approved review request to move, and the revision
    of its labels (what an agent's bundle ETag is made of)."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="policy_settings"
    )
    protected_labels = ArrayField(
        models.SlugField(max_length=40), default=list, blank=True, help_text="Besides production."
    )
    revision = models.PositiveBigIntegerField(
        default=0,
        editable=False,
        help_text="Bumped by every label move: the bundles' ETag (a 304 reads only this).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = PolicySettingsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "policy settings"

    def __str__(self) -> str:
        return f"policy settings of workspace {self.workspace_id}"

    def is_protected(self, label: str) -> bool:
        return label == PRODUCTION or label in self.protected_labels


class PolicyPack(Artifact):
    class Meta:
        proxy = True
        verbose_name = "policy pack"


class Prompt(Artifact):
    class Meta:
        proxy = True


class Skill(Artifact):
    class Meta:
        proxy = True
