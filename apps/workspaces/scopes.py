"""What an agent token may do. Stored on the token; checked by API views and services."""

from __future__ import annotations

from django.db import models


class Scope(models.TextChoices):
    MEMORIES_READ = "memories:read", "Read memories and assemble context"
    MEMORIES_WRITE_PERSONAL = "memories:write:personal", "Write the agent's personal memories"
    MEMORIES_WRITE_TEAM = "memories:write:team", "Propose team memories"
    MEMORIES_WRITE_WORKSPACE = "memories:write:workspace", "Propose workspace memories"
    SIGNALS_WRITE = "signals:write", "Post traces, feedback and outcomes"
    POLICIES_READ = "policies:read", "Fetch active policies and experiment assignments"
    POLICIES_PROPOSE = "policies:propose", "Propose new versions of policies, prompts and skills"
    DIRECTOR = "director", "Coach and request promotions for the agents of its team"


DEFAULT_SCOPES = [
    Scope.MEMORIES_READ.value,
    Scope.MEMORIES_WRITE_PERSONAL.value,
    Scope.SIGNALS_WRITE.value,
    Scope.POLICIES_READ.value,
]


def validate_scopes(scopes: object) -> list[str]:
    """Return the scopes de-duplicated in canonical order, or raise ValueError naming bad ones."""
    if not isinstance(scopes, list | tuple) or not all(isinstance(s, str) for s in scopes):
        raise ValueError("Scopes must be a list of strings.")
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValueError(f"Unknown scopes: {', '.join(unknown)}. Valid: {', '.join(Scope.values)}.")
    return [scope for scope in Scope.values if scope in scopes]
