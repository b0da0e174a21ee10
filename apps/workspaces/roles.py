"""Roles and what each may do. The single table every permission check reads."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    REVIEWER = "reviewer", "Reviewer"
    EDITOR = "editor", "Editor"
    AUDITOR = "auditor", "Auditor"
    VIEWER = "viewer", "Viewer"


class Action(models.TextChoices):
    """What a principal wants to do with an object; scoping takes one of these."""

    VIEW = "view", "View"
    MANAGE = "manage", "Manage members, teams, agents and tokens"
    MANAGE_OWNERS = "manage_owners", "Grant or revoke the owner role"
    REVIEW = "review", "Decide review requests"
    EDIT = "edit", "Edit learned items"
    AUDIT = "audit", "Read the audit trail"


ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(Action.values),
    Role.ADMIN: frozenset({"view", "manage", "review", "edit", "audit"}),
    Role.REVIEWER: frozenset({"view", "review"}),
    Role.EDITOR: frozenset({"view", "edit"}),
    Role.AUDITOR: frozenset({"view", "audit"}),
    Role.VIEWER: frozenset({"view"}),
}


def roles_allowed(action: str) -> list[str]:
    """Roles whose holders may take `action`; unknown actions are a programming error."""
    if action not in Action.values:
        raise ValueError(f"Unknown action {action!r}; expected one of {Action.values}")
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]
