"""Tenancy: workspaces, teams, memberships with roles, agents and their API tokens.

Every model has one scoping entry point, `objects.visible_to(principal, action)`, used by the
admin's get_queryset, the API's base view and the services' permission checks alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from apps.workspaces.grants import grants_of
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action, Role, roles_allowed

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def workspace_ids_for(user: User, action: str) -> models.QuerySet[Any] | list[int]:
    """Workspaces where `user` holds a workspace-level role allowing `action`: a subquery, or
    the ids themselves in an admin request (apps/workspaces/grants.py)."""
    grants = grants_of(user)
    if grants is not None:
        return grants.workspace_ids(action)
    return Membership.objects.filter(
        user=user, team__isnull=True, role__in=roles_allowed(action)
    ).values("workspace_id")


def team_ids_for(user: User, action: str) -> models.QuerySet[Any] | list[int]:
    """Teams where `user` holds a team-level role allowing `action` (as workspace_ids_for)."""
    grants = grants_of(user)
    if grants is not None:
        return grants.team_ids(action)
    return Membership.objects.filter(
        user=user, team__isnull=False, role__in=roles_allowed(action)
    ).values("team_id")


class ScopedQuerySet(models.QuerySet[Any]):
    """Base for `visible_to`: superusers and system tasks see all; anonymous sees nothing."""

    def visible_to(self, actor: Any, action: str = Action.VIEW) -> Self:
        roles_allowed(action)  # rejects unknown actions early
        if actor is None or getattr(actor, "is_anonymous", False):
            return self.none()
        principal = as_principal(actor)
        if not principal.is_authenticated:
            return self.none()
        if principal.kind == "system" or principal.is_superuser:
            return self.all()
        if principal.kind == "agent":
            return self.for_agent(principal, action)
        return self.for_user(principal, action)

    def for_user(self, principal: Principal, action: str) -> Self:
        raise NotImplementedError

    def for_agent(self, principal: Principal, action: str) -> Self:
        return self.none()


class WorkspaceQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        visible = Q(id__in=workspace_ids_for(user, action))
        if action == Action.VIEW:
            teams = Team.objects.filter(id__in=team_ids_for(user, action))
            visible |= Q(id__in=teams.values("workspace_id"))
        return self.filter(visible)

    def for_agent(self, principal: Principal, action: str) -> Self:
        if action != Action.VIEW:
            return self.none()
        return self.filter(id=principal.required_agent.workspace_id)


class Workspace(models.Model):
    """A company: the tenant. Nothing crosses its boundary."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        return self.filter(
            Q(workspace_id__in=workspace_ids_for(user, action))
            | Q(id__in=team_ids_for(user, action))
        )

    def for_agent(self, principal: Principal, action: str) -> Self:
        if action != Action.VIEW:
            return self.none()
        return self.filter(workspace_id=principal.required_agent.workspace_id)


class Team(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="teams")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["workspace_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="team_slug_unique_in_ws")
        ]

    def __str__(self) -> str:
        return f"{self.name}"


class MembershipQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        visible = Q(workspace_id__in=workspace_ids_for(user, action)) | Q(
            team_id__in=team_ids_for(user, action)
        )
        if action == Action.VIEW:
            visible |= Q(user=user)
        return self.filter(visible)


class Membership(models.Model):
    """A person's role in a workspace (team empty) or in one team of it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["workspace_id", "team_id", "user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "workspace", "team"],
                name="membership_unique_per_scope",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["user", "role"], name="membership_user_role")]

    def __str__(self) -> str:
        where = self.team.name if self.team_id and self.team else "workspace"
        return f"{self.user} — {self.role} ({where})"


class AgentQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        # A grant to change an agent includes seeing it.
        codenames = ["view_agent", "change_agent"] if action == Action.VIEW else ["change_agent"]
        granted = AgentUserObjectPermission.objects.filter(
            user=user, permission__codename__in=codenames
        ).values("content_object_id")
        granted_to_groups = AgentGroupObjectPermission.objects.filter(
            group__user=user, permission__codename__in=codenames
        ).values("content_object_id")
        return self.filter(
            Q(workspace_id__in=workspace_ids_for(user, action))
            | Q(team_id__in=team_ids_for(user, action))
            | Q(id__in=granted)
            | Q(id__in=granted_to_groups)
        )

    def for_agent(self, principal: Principal, action: str) -> Self:
        if action != Action.VIEW:
            return self.none()
        return self.filter(id=principal.required_agent.pk)


class Agent(models.Model):
    """An AI agent identity. It authenticates with AgentTokens and acts as `request.user`."""

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="agents")
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="agents"
    )
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["workspace_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="agent_slug_unique_in_ws")
        ]

    def __str__(self) -> str:
        return self.name

    # DRF treats the authenticated agent as request.user.
    is_authenticated = True
    is_anonymous = False
    is_superuser = False


class AgentUserObjectPermission(UserObjectPermissionBase):
    """guardian grant of one agent to one user, e.g. a contractor who manages one bot."""

    content_object = models.ForeignKey(Agent, on_delete=models.CASCADE)


class AgentGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Agent, on_delete=models.CASCADE)


class AgentTokenQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        # Token metadata is for those who manage the agent, whatever the action asked.
        return self.filter(agent__in=Agent.objects.for_user(principal, Action.MANAGE))

    def usable(self) -> Self:
        now = timezone.now()
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            revoked_at__isnull=True,
            agent__is_active=True,
        )


class AgentToken(models.Model):
    """An API credential. The secret is shown once; only its SHA-256 is stored."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = ArrayField(models.CharField(max_length=40), default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_reason = models.CharField(max_length=240, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = AgentTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (stw_{self.prefix}_…)"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"
