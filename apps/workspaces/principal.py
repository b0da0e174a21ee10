"""Who is acting: a person, an agent, or a named system task.

Services take `actor` as any of User, Agent or Principal and normalise it with `as_principal`;
scoping (`visible_to`) and audit events read the same object, so a rule written once holds
for the admin, the API, tasks and commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.workspaces.models import Agent

PrincipalKind = Literal["user", "agent", "system"]


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    user: User | None = None
    agent: Agent | None = None
    system_name: str = ""

    @classmethod
    def system(cls, name: str) -> Principal:
        """A background task or command acting on its own authority (TTL sweeps, seeding)."""
        return cls(kind="system", system_name=name)

    @property
    def required_user(self) -> User:
        """The user, for code paths that scoping has already limited to people."""
        if self.user is None:
            raise TypeError(f"{self.label} is not a person")
        return self.user

    @property
    def required_agent(self) -> Agent:
        if self.agent is None:
            raise TypeError(f"{self.label} is not an agent")
        return self.agent

    @property
    def is_superuser(self) -> bool:
        return bool(self.user is not None and getattr(self.user, "is_superuser", False))

    @property
    def is_authenticated(self) -> bool:
        if self.kind == "user":
            return bool(self.user is not None and self.user.is_active)
        if self.kind == "agent":
            return bool(self.agent is not None and self.agent.is_active)
        return True

    @property
    def actor_id(self) -> str:
        if self.kind == "user" and self.user is not None:
            return str(self.user.pk)
        if self.kind == "agent" and self.agent is not None:
            return str(self.agent.pk)
        return self.system_name

    @property
    def label(self) -> str:
        if self.kind == "user" and self.user is not None:
            return str(self.user.get_username())
        if self.kind == "agent" and self.agent is not None:
            return f"{self.agent.workspace_id}/{self.agent.slug}"
        return f"system:{self.system_name}"


def as_principal(actor: Any) -> Principal:
    """Accept a Principal, a User or an Agent (what views and admin have at hand)."""
    from django.contrib.auth.models import AbstractBaseUser

    from apps.workspaces.models import Agent

    if isinstance(actor, Principal):
        return actor
    if isinstance(actor, Agent):
        return Principal(kind="agent", agent=actor)
    if isinstance(actor, AbstractBaseUser):
        return Principal(kind="user", user=cast("User", actor))
    raise TypeError(f"actor must be a User, an Agent or a Principal, not {type(actor).__name__}")
