"""Every change to tenancy goes through here: permission check, change and audit event in one
transaction, shared by the admin, the API, tasks and commands."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_group_perms, get_user_perms, remove_perm

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.privacy.policies import field_mask, identifier_screen
from apps.privacy.saved import masked_rows_saved
from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action, Role
from apps.workspaces.scopes import validate_scopes

TEAM_FIELDS = ("workspace", "name", "slug")
MEMBERSHIP_FIELDS = ("user", "workspace", "team", "role")
AGENT_FIELDS = ("workspace", "team", "name", "slug", "description", "is_active")
TOKEN_FIELDS = ("agent", "name", "prefix", "scopes", "expires_at", "revoked_at", "revoked_reason")
AGENT_GRANTABLE = ("view_agent", "change_agent")  # what Agent scoping honours
TOKEN_PREFIX = "stw_"  # noqa: S105 - a public marker, not a secret

M = TypeVar("M", bound=models.Model)


def require(actor: Any, action: str, obj: models.Model) -> None:
    """Refuse unless `obj` is in `visible_to(actor, action)`: the rule scoping also applies."""
    manager = type(obj)._default_manager
    if not manager.visible_to(actor, action).filter(pk=obj.pk).exists():  # type: ignore[attr-defined]
        raise Forbidden(f"You may not {action} this {obj._meta.verbose_name}.")


def _require_manage_scope(actor: Any, workspace: Workspace, team: Team | None) -> None:
    """Managing something of a team needs manage on the team; of the workspace, on it."""
    if team is not None and team.workspace_id != workspace.pk:
        raise ValidationFailed(
            "The team belongs to another workspace.", fields={"team": ["Not in this workspace."]}
        )
    require(actor, Action.MANAGE, team if team is not None else workspace)


def _locked(obj: M) -> M:
    """The row as stored, locked until commit: callers (forms, serializers) may hand us an
    instance they have already changed in memory, which would falsify the audit `before`."""
    manager = type(obj)._default_manager
    try:
        return manager.select_for_update().get(pk=obj.pk)
    except ObjectDoesNotExist as exc:
        raise NotFound(f"This {obj._meta.verbose_name} no longer exists.") from exc


def _masked_text(
    workspace: Workspace | int | None, model: type[models.Model], field: str, text: str
) -> str:
    """Free text people type (names, descriptions, reasons) is stored masked with the
    workspace's privacy policy, and must still fit its column once masked."""
    return field_mask(workspace, model, field, text)


def _save_unique(obj: models.Model, message: str, field: str) -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise Conflict(message, fields={field: [message]}) from exc


# --- workspaces -------------------------------------------------------------------------------


@transaction.atomic
def workspace_create(*, actor: Any, name: str, slug: str, owner: User) -> Workspace:
    """New tenant with its first owner. Only operators (superusers, system tasks) create them."""
    principal = as_principal(actor)
    if principal.kind != "system" and not principal.is_superuser:
        raise Forbidden("Only an operator (superuser) may create workspaces.")
    workspace = Workspace(
        name=_masked_text(None, Workspace, "name", name), slug=identifier_screen(None, "slug", slug)
    )
    _save_unique(workspace, f"A workspace with slug {slug!r} exists.", "slug")
    audit_event_record(
        actor=actor,
        action="workspace.create",
        obj=workspace,
        workspace_id=workspace.pk,
        after=audit_snapshot(workspace, ("name", "slug")),
    )
    membership_grant(actor=actor, workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


@transaction.atomic
def workspace_update(*, actor: Any, workspace: Workspace, name: str) -> Workspace:
    require(actor, Action.MANAGE, workspace)
    workspace = _locked(workspace)
    name = _masked_text(workspace, Workspace, "name", name)
    if workspace.name == name:
        return workspace
    before = audit_snapshot(workspace, ("name",))
    workspace.name = name
    workspace.save(update_fields=["name", "updated_at"])
    audit_event_record(
        actor=actor,
        action="workspace.update",
        obj=workspace,
        workspace_id=workspace.pk,
        before=before,
        after=audit_snapshot(workspace, ("name",)),
    )
    return workspace


# --- teams ------------------------------------------------------------------------------------


@transaction.atomic
def team_create(*, actor: Any, workspace: Workspace, name: str, slug: str) -> Team:
    require(actor, Action.MANAGE, workspace)
    team = Team(
        workspace=workspace,
        name=_masked_text(workspace, Team, "name", name),
        slug=identifier_screen(workspace, "slug", slug),
    )
    _save_unique(team, f"A team with slug {slug!r} exists in this workspace.", "slug")
    audit_event_record(
        actor=actor,
        action="team.create",
        obj=team,
        workspace_id=workspace.pk,
        after=audit_snapshot(team, TEAM_FIELDS),
    )
    return team


@transaction.atomic
def team_update(*, actor: Any, team: Team, name: str) -> Team:
    require(actor, Action.MANAGE, team)
    team = _locked(team)
    name = _masked_text(team.workspace_id, Team, "name", name)
    if team.name == name:
        return team
    before = audit_snapshot(team, TEAM_FIELDS)
    team.name = name
    team.save(update_fields=["name"])
    audit_event_record(
        actor=actor,
        action="team.update",
        obj=team,
        workspace_id=team.workspace_id,
        before=before,
        after=audit_snapshot(team, TEAM_FIELDS),
    )
    return team


@transaction.atomic
def team_delete(*, actor: Any, team: Team, reason: str = "") -> None:
    """Delete a team without agents; agents must be moved first so none loses its scope silently.

    The team's memberships go with it; the event lists them, so no access ends unrecorded.
    """
    require(actor, Action.MANAGE, team.workspace)
    team = _locked(team)
    if team.agents.exists():
        raise Conflict("Move or delete this team's agents before deleting the team.")
    before = audit_snapshot(team, TEAM_FIELDS)
    before["memberships"] = [
        audit_snapshot(membership, MEMBERSHIP_FIELDS)
        for membership in team.memberships.order_by("pk")
    ]
    audit_event_record(
        actor=actor,
        action="team.delete",
        obj=team,
        workspace_id=team.workspace_id,
        before=before,
        reason=reason,
    )
    team.delete()


# --- memberships ------------------------------------------------------------------------------


def _check_role_given(actor: Any, workspace: Workspace, team: Team | None, role: str) -> None:
    """Owner is workspace-wide and only owners hand it out."""
    if role != Role.OWNER:
        return
    if team is not None:
        raise ValidationFailed(
            "Owner is a workspace-wide role; it can't be given for one team.",
            fields={"role": ["Not valid for a team membership."]},
        )
    require(actor, Action.MANAGE_OWNERS, workspace)


def _check_role_taken(actor: Any, membership: Membership) -> None:
    """Only owners take the owner role away (by demotion or revocation)."""
    if membership.role == Role.OWNER and membership.team_id is None:
        require(actor, Action.MANAGE_OWNERS, membership.workspace)


def _check_not_last_owner(membership: Membership) -> None:
    if membership.role != Role.OWNER or membership.team_id is not None:
        return
    owners = Membership.objects.select_for_update().filter(
        workspace_id=membership.workspace_id, team__isnull=True, role=Role.OWNER
    )
    if len(owners) <= 1:
        raise Conflict("A workspace must keep at least one owner.")


@transaction.atomic
def membership_grant(
    *,
    actor: Any,
    workspace: Workspace,
    user: User,
    role: str,
    team: Team | None = None,
) -> Membership:
    """Give `user` a role in the workspace or one team; makes the user able to sign in."""
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", fields={"role": ["Unknown role."]})
    _require_manage_scope(actor, workspace, team)
    _check_role_given(actor, workspace, team, role)
    membership = Membership(user=user, workspace=workspace, team=team, role=role)
    _save_unique(membership, "This person already has a role there; change it instead.", "user")
    if not getattr(user, "is_staff", True):
        get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
        user.is_staff = True
    audit_event_record(
        actor=actor,
        action="membership.grant",
        obj=membership,
        workspace_id=workspace.pk,
        after=audit_snapshot(membership, MEMBERSHIP_FIELDS),
    )
    return membership


@transaction.atomic
def membership_change_role(*, actor: Any, membership: Membership, role: str) -> Membership:
    """Change a role; the owner role is given and taken only by owners, and never the last."""
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", fields={"role": ["Unknown role."]})
    require(actor, Action.VIEW, membership)
    membership = _locked(membership)
    _require_manage_scope(actor, membership.workspace, membership.team)
    if membership.role == role:
        return membership
    _check_role_taken(actor, membership)
    _check_role_given(actor, membership.workspace, membership.team, role)
    _check_not_last_owner(membership)
    before = audit_snapshot(membership, MEMBERSHIP_FIELDS)
    membership.role = role
    membership.save(update_fields=["role"])
    audit_event_record(
        actor=actor,
        action="membership.change_role",
        obj=membership,
        workspace_id=membership.workspace_id,
        before=before,
        after=audit_snapshot(membership, MEMBERSHIP_FIELDS),
    )
    return membership


@transaction.atomic
def membership_revoke(*, actor: Any, membership: Membership, reason: str = "") -> None:
    require(actor, Action.VIEW, membership)
    membership = _locked(membership)
    _require_manage_scope(actor, membership.workspace, membership.team)
    _check_role_taken(actor, membership)
    _check_not_last_owner(membership)
    audit_event_record(
        actor=actor,
        action="membership.revoke",
        obj=membership,
        workspace_id=membership.workspace_id,
        before=audit_snapshot(membership, MEMBERSHIP_FIELDS),
        reason=reason,
    )
    membership.delete()


# --- agents -----------------------------------------------------------------------------------


@transaction.atomic
def agent_create(
    *,
    actor: Any,
    workspace: Workspace,
    name: str,
    slug: str,
    team: Team | None = None,
    description: str = "",
) -> Agent:
    _require_manage_scope(actor, workspace, team)
    agent = Agent(
        workspace=workspace,
        team=team,
        name=_masked_text(workspace, Agent, "name", name),
        slug=identifier_screen(workspace, "slug", slug),
        description=_masked_text(workspace, Agent, "description", description),
    )
    _save_unique(agent, f"An agent with slug {slug!r} exists in this workspace.", "slug")
    masked_rows_saved(workspace_id=workspace.pk, rows=[agent])
    audit_event_record(
        actor=actor,
        action="agent.create",
        obj=agent,
        workspace_id=workspace.pk,
        after=audit_snapshot(agent, AGENT_FIELDS),
    )
    return agent


@transaction.atomic
def agent_update(*, actor: Any, agent: Agent, **changes: Any) -> Agent:
    """Rename, describe, move between teams of its workspace, or (de)activate an agent."""
    allowed = {"name", "description", "team", "is_active"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Can't change {', '.join(sorted(unknown))} of an agent.")
    require(actor, Action.MANAGE, agent)
    agent = _locked(agent)
    for name in ("name", "description"):
        if name in changes:
            changes[name] = _masked_text(agent.workspace_id, Agent, name, changes[name])
    if "team" in changes:
        _require_manage_scope(actor, agent.workspace, changes["team"])
    before = audit_snapshot(agent, AGENT_FIELDS)
    for field, value in changes.items():
        setattr(agent, field, value)
    if audit_snapshot(agent, AGENT_FIELDS) == before:
        return agent
    agent.save(update_fields=[*changes])
    masked_rows_saved(workspace_id=agent.workspace_id, rows=[agent], fields=changes)
    audit_event_record(
        actor=actor,
        action="agent.update",
        obj=agent,
        workspace_id=agent.workspace_id,
        before=before,
        after=audit_snapshot(agent, AGENT_FIELDS),
    )
    return agent


@transaction.atomic
def agent_access_set(
    *,
    actor: Any,
    agent: Agent,
    permissions: list[str],
    user: User | None = None,
    group: Group | None = None,
) -> None:
    """Set the per-agent grants (guardian) of one user or group to exactly `permissions`.

    Grants reach past membership roles (a contractor who runs one bot), even across
    workspaces, so only operators set them.
    """
    principal = as_principal(actor)
    if principal.kind != "system" and not principal.is_superuser:
        raise Forbidden("Only an operator (superuser) may grant per-agent access.")
    if (user is None) == (group is None):
        raise ValidationFailed("Give either a user or a group.")
    wanted = set(permissions)
    unknown = wanted - set(AGENT_GRANTABLE)
    if unknown:
        raise ValidationFailed(
            f"Can't grant {', '.join(sorted(unknown))}; choose from {', '.join(AGENT_GRANTABLE)}."
        )
    holder: Any = user if user is not None else group
    held = get_user_perms(user, agent) if user is not None else get_group_perms(group, agent)
    current = {str(codename) for codename in held} & set(AGENT_GRANTABLE)
    if wanted == current:
        return
    for codename in current - wanted:
        remove_perm(codename, holder, agent)
    for codename in wanted - current:
        assign_perm(codename, holder, agent)
    who = {"user": user.pk} if user is not None else {"group": holder.pk}
    audit_event_record(
        actor=actor,
        action="agent.access_set",
        obj=agent,
        workspace_id=agent.workspace_id,
        before={**who, "permissions": sorted(current)},
        after={**who, "permissions": sorted(wanted)},
    )


# --- agent tokens -----------------------------------------------------------------------------


def hash_token(raw_token: str) -> str:
    """SHA-256 suffices: secrets are 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(raw_token.encode()).hexdigest()


def split_token(raw_token: str) -> tuple[str, str] | None:
    """`stw_<prefix>_<secret>` -> (prefix, secret), or None when it is not shaped like one."""
    if not raw_token.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = raw_token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix, secret


@transaction.atomic
def agent_token_issue(
    *,
    actor: Any,
    agent: Agent,
    name: str,
    scopes: list[str],
    expires_at: dt.datetime | None = None,
    raw_token: str | None = None,
) -> tuple[AgentToken, str]:
    """Create a token; returns it with the raw secret, which is never stored or shown again.

    `raw_token` lets the demo seed re-derive its tokens on every run (see apps.core.demo);
    everything else lets the service draw 256 random bits.
    """
    require(actor, Action.MANAGE, agent)
    try:
        scopes = validate_scopes(scopes)
    except ValueError as exc:
        raise ValidationFailed(str(exc), fields={"scopes": [str(exc)]}) from exc
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(
            "expires_at must be in the future.", fields={"expires_at": ["Must be in the future."]}
        )
    raw = raw_token or f"{TOKEN_PREFIX}{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    parts = split_token(raw)
    if parts is None:
        raise ValidationFailed("raw_token is not shaped like stw_<12 hex>_<secret>.")
    prefix = parts[0]
    principal = as_principal(actor)
    token = AgentToken(
        agent=agent,
        name=_masked_text(agent.workspace_id, AgentToken, "name", name),
        prefix=prefix,
        secret_hash=hash_token(raw),
        scopes=scopes,
        expires_at=expires_at,
        created_by=principal.user if principal.kind == "user" else None,
    )
    _save_unique(token, "A token with this prefix exists; issue a new one.", "raw_token")
    audit_event_record(
        actor=actor,
        action="agent_token.issue",
        obj=token,
        workspace_id=agent.workspace_id,
        after=audit_snapshot(token, TOKEN_FIELDS),
    )
    return token, raw


@transaction.atomic
def agent_token_revoke(*, actor: Any, token: AgentToken, reason: str = "") -> AgentToken:
    """Revoke at once; idempotent (revoking a revoked token changes nothing and logs nothing)."""
    require(actor, Action.MANAGE, token)
    token = AgentToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    reason = field_mask(
        token.agent.workspace_id, AgentToken, "revoked_reason", reason, param="reason"
    )
    before = audit_snapshot(token, TOKEN_FIELDS)
    token.revoked_at = timezone.now()
    token.revoked_reason = reason
    token.save(update_fields=["revoked_at", "revoked_reason"])
    audit_event_record(
        actor=actor,
        action="agent_token.revoke",
        obj=token,
        workspace_id=token.agent.workspace_id,
        before=before,
        after=audit_snapshot(token, TOKEN_FIELDS),
        reason=reason,
    )
    return token
