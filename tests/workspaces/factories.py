from __future__ import annotations

import secrets
from typing import Any

import factory
from django.contrib.auth import get_user_model

from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.scopes import DEFAULT_SCOPES
from apps.workspaces.services import hash_token


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    is_staff = True

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        self.set_password(extracted or "pw")
        if create:
            self.save(update_fields=["password"])


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"ws-{n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    workspace = factory.SubFactory(WorkspaceFactory)
    team = None
    role = "viewer"


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    workspace = factory.SubFactory(WorkspaceFactory)
    team = None
    name = factory.Sequence(lambda n: f"Agent {n}")
    slug = factory.Sequence(lambda n: f"agent-{n}")


class AgentTokenFactory(factory.django.DjangoModelFactory):
    """A usable token without an audit event; its secret is on `.raw` (only the hash is saved)."""

    class Meta:
        model = AgentToken

    agent = factory.SubFactory(AgentFactory)
    name = factory.Sequence(lambda n: f"token {n}")
    raw = factory.LazyFunction(lambda: f"stw_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}")
    prefix = factory.LazyAttribute(lambda t: t.raw[4:16])
    secret_hash = factory.LazyAttribute(lambda t: hash_token(t.raw))
    scopes = factory.LazyFunction(lambda: list(DEFAULT_SCOPES))

    @classmethod
    def _create(cls, model_class: type[AgentToken], *args: Any, **kwargs: Any) -> AgentToken:
        raw = kwargs.pop("raw")
        token = super()._create(model_class, *args, **kwargs)
        token.raw = raw
        return token
