"""Every list endpoint costs the same few queries however many rows it returns (no N+1)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.workspaces.factories import (
    AgentFactory,
    AgentTokenFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
    WorkspaceFactory,
)


def _add_rows(cast: Any, n: int) -> None:
    """n more of everything the owner of Acme can list: teams with an agent, a token and a member
    each, and n more workspaces the owner views."""
    for _ in range(n):
        team = TeamFactory(workspace=cast.workspace)
        agent = AgentFactory(workspace=cast.workspace, team=team)
        AgentTokenFactory(agent=agent)
        MembershipFactory(user=UserFactory(), workspace=cast.workspace, team=team, role="editor")
        MembershipFactory(user=cast.user("owner"), workspace=WorkspaceFactory(), role="viewer")


LISTS = ["workspaces", "teams", "memberships", "agents", "tokens"]
LIST_QUERIES = 1  # scoping is subqueries inside the one list query; cursor pages need no COUNT
SESSION_QUERIES = 2  # the session and its user


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("who", ["owner", "team_admin", "operator"])
def test_list_query_count_does_not_grow_with_rows(
    cast, client_as, django_assert_max_num_queries, path, who
):
    client = client_as(who)
    _add_rows(cast, 2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/api/v1/{path}").status_code == 200
    _add_rows(cast, 10)

    with django_assert_max_num_queries(LIST_QUERIES):
        response = client.get(f"/api/v1/{path}")

    assert response.status_code == 200
    with CaptureQueriesContext(connection) as many:
        client.get(f"/api/v1/{path}")
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


@pytest.mark.parametrize("path", LISTS)
def test_list_query_count_with_a_browser_session(cast, django_assert_max_num_queries, path):
    client = APIClient()
    client.login(username="owner", password="pw")
    _add_rows(cast, 12)

    with django_assert_max_num_queries(LIST_QUERIES + SESSION_QUERIES):
        response = client.get(f"/api/v1/{path}?page_size=500")

    assert response.status_code == 200
    assert len(response.json()["results"]) > 1


@pytest.mark.parametrize(
    ("path", "query", "ids_checked"),
    [
        ("teams", "workspace={workspace}", 1),
        ("memberships", "workspace={workspace}&team={team}&role=editor", 2),
        ("agents", "workspace={workspace}&team={team}&is_active=true", 2),
        ("tokens", "agent={agent}", 1),
    ],
)
def test_filtered_list_query_count_is_bounded(
    cast, client_as, django_assert_max_num_queries, path, query, ids_checked
):
    _add_rows(cast, 12)
    ids = {"workspace": cast.workspace.pk, "team": cast.sales.pk, "agent": cast.agent.pk}

    with django_assert_max_num_queries(LIST_QUERIES + ids_checked):  # each id is checked once
        response = client_as("owner").get(f"/api/v1/{path}?{query.format(**ids)}")

    assert response.status_code == 200
