"""The shared cast: one workspace with every role, an outsider, agents on both sides.

Rows are made with factories; the two tokens go through the service (only it hashes), so
audit assertions count events as a difference around the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.workspaces.models import Agent, AgentToken, Team, Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Role
from apps.workspaces.scopes import DEFAULT_SCOPES
from apps.workspaces.services import agent_token_issue
from tests.workspaces.factories import (
    AgentFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
    WorkspaceFactory,
)

SYSTEM = Principal.system("tests")


@dataclass
class Cast:
    workspace: Workspace
    sales: Team
    marketing: Team
    other_workspace: Workspace
    users: dict[str, Any]
    agent: Agent
    agent_token: AgentToken
    agent_secret: str
    other_agent: Agent
    other_agent_secret: str

    def user(self, role: str) -> Any:
        return self.users[role]


ROLES_AND_OTHERS = [*Role.values, "team_admin", "team_viewer", "outsider", "nobody", "operator"]


@pytest.fixture
def cast(db: None) -> Cast:
    workspace = WorkspaceFactory(name="Acme", slug="acme")
    sales = TeamFactory(workspace=workspace, name="Sales", slug="sales")
    marketing = TeamFactory(workspace=workspace, name="Marketing", slug="marketing")
    other = WorkspaceFactory(name="Globex", slug="globex")
    users: dict[str, Any] = {}
    for role in Role.values:
        users[role] = UserFactory(username=role)
        MembershipFactory(user=users[role], workspace=workspace, role=role)
    users["team_admin"] = UserFactory(username="team_admin")
    MembershipFactory(user=users["team_admin"], workspace=workspace, team=sales, role="admin")
    users["team_viewer"] = UserFactory(username="team_viewer")
    MembershipFactory(user=users["team_viewer"], workspace=workspace, team=sales, role="viewer")
    users["outsider"] = UserFactory(username="outsider")
    MembershipFactory(user=users["outsider"], workspace=other, role="owner")
    users["nobody"] = UserFactory(username="nobody")
    users["operator"] = UserFactory(username="operator", is_superuser=True)
    agent = AgentFactory(workspace=workspace, team=sales, name="SDR Bot", slug="sdr-bot")
    other_agent = AgentFactory(workspace=other, name="Globex Bot", slug="globex-bot")
    token, secret = agent_token_issue(actor=SYSTEM, agent=agent, name="t", scopes=DEFAULT_SCOPES)
    _, other_secret = agent_token_issue(
        actor=SYSTEM, agent=other_agent, name="t", scopes=DEFAULT_SCOPES
    )
    return Cast(
        workspace=workspace,
        sales=sales,
        marketing=marketing,
        other_workspace=other,
        users=users,
        agent=agent,
        agent_token=token,
        agent_secret=secret,
        other_agent=other_agent,
        other_agent_secret=other_secret,
    )


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_as(cast: Cast) -> Any:
    """`client_as("reviewer")` -> an APIClient signed in as that member of the cast."""

    def make(who: str) -> APIClient:
        client = APIClient()
        if who == "anonymous":
            return client
        if who == "agent":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.agent_secret}")
        elif who == "other_agent":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.other_agent_secret}")
        else:
            client.force_authenticate(cast.user(who))
        return client

    return make


@pytest.fixture
def celery_worker(transactional_db: None) -> Any:
    """A real Celery worker in this process, consuming the test settings' memory:// broker.

    For behaviour that depends on a worker (claims, acks, progress seen from outside). Tasks
    run in the worker's thread with their own database connection, so tests use committed
    data (`transactional_db`); the connection is closed after each task so the test database
    can be flushed and dropped.
    """
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from config.celery import app

    def close_connections(**kwargs: Any) -> None:
        connections.close_all()

    # Publish through fresh pools: one closed by an earlier worker or broker swap in this
    # process (kombu's process-wide producer pools) fails with "Acquire on closed pool".
    from kombu import pools

    pools.reset()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as w:
            yield w
    finally:
        task_postrun.disconnect(close_connections)
