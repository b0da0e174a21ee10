"""The shared cast: one workspace with every role, an outsider, agents on both sides.

Rows are made with factories; the two tokens go through the service (only it hashes), so
audit assertions count events as a difference around the code under test.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
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


def build_cast() -> Cast:
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


# --- rows shared by a module ---------------------------------------------------------------------
# Most tests run over the same cast, and building it for each test was much of the suite's time.
# A module builds the cast once (and, with `shared_rows("world")`, the memory API's world on it),
# inside one transaction around the whole module that is rolled back at its end; each test runs
# in a savepoint inside it (rolled back after the test, as always) and gets its own deep copy of
# the objects, so nothing a test changes, in the database or on the objects, reaches the next
# test. Every module whose tests use the cast shares it, unless one of its tests needs committed
# data (transactional_db, live_server, a real worker, a browser: other connections must see the
# rows) or it is marked `own_cast`; those build a cast per test, as before.
SHARED_BUILDERS: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "shared_rows(*names): the module builds the cast (and those rows) once"
    )
    config.addinivalue_line("markers", "own_cast: every test of the module builds its own cast")


_COMMITTING = {"transactional_db", "live_server", "django_db_reset_sequences", "celery_worker"}


def _shares_by_default(request: pytest.FixtureRequest) -> bool:
    """Whether this module's tests use the cast and none needs committed rows."""
    items = [i for i in request.session.items if getattr(i, "module", None) is request.module]
    uses_cast = False
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        marker = item.get_closest_marker("django_db")
        if names & _COMMITTING or item.get_closest_marker("browser"):
            return False
        if marker is not None and (marker.kwargs.get("transaction") or marker.args[:1] == (True,)):
            return False
        uses_cast = uses_cast or "cast" in names
    return uses_cast


def _build_world(rows: dict[str, Any]) -> Any:
    from tests.memories.api_world import build_world

    return build_world(rows["cast"])


SHARED_BUILDERS["world"] = _build_world


@pytest.fixture(scope="module", autouse=True)
def _module_rows(request: pytest.FixtureRequest) -> Iterator[dict[str, Any] | None]:
    marker = request.node.get_closest_marker("shared_rows")
    if marker is None and (
        request.node.get_closest_marker("own_cast") or not _shares_by_default(request)
    ):
        yield None
        return
    names = marker.args if marker is not None else ()
    from django.db import transaction

    request.getfixturevalue("django_db_setup")
    blocker = request.getfixturevalue("django_db_blocker")
    with blocker.unblock(), transaction.atomic():
        rows: dict[str, Any] = {"cast": build_cast()}
        for name in names:
            rows[name] = SHARED_BUILDERS[name](rows)
        yield rows
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> None:
    """Per-process caches keyed by ids and revisions start empty for every test: with a cast
    shared by the module, ids and revision numbers repeat from test to test (each test's rows
    are rolled back) while what they stand for differs."""
    from django.core.cache import cache

    from apps.guardrails import services as guardrails
    from apps.memories import vector_indexes
    from apps.privacy import policies

    cache.clear()
    guardrails._LIMITS_CACHE.clear()
    policies.clear_cache()
    vector_indexes._forget_indexes()


@pytest.fixture
def shared_rows(request: pytest.FixtureRequest, _module_rows: dict[str, Any] | None) -> Any:
    """This test's own copy of the module's shared rows (None when the module shares none)."""
    if _module_rows is None:
        return None
    if "transactional_db" in request.fixturenames or "live_server" in request.fixturenames:
        raise pytest.UsageError(
            f"{request.node.nodeid}: a `shared_rows` module can't hold a transactional test "
            "(its rows are never committed): move the test to another module."
        )
    request.getfixturevalue("db")
    return copy.deepcopy(_module_rows)


@pytest.fixture
def cast(db: None, shared_rows: dict[str, Any] | None) -> Cast:
    return shared_rows["cast"] if shared_rows is not None else build_cast()


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
