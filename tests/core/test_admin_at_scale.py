"""What keeps admin pages fast on big tables: counts capped at ADMIN_COUNT_CAP, one read of
the person's memberships per request (scoping by literal ids), and the auth admins kept for
operators. The speed itself is measured by bench/admin; these check the behaviour."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.paginator import AtLeast, CappedCountPaginator
from apps.memories.models import MemoryItem, Tier
from apps.workspaces.grants import Grants, grants_load, grants_of
from apps.workspaces.roles import Action
from tests.memories.api_world import make_item

MEMORIES = reverse("admin:memories_memoryitem_changelist")
UNCAPPED_COUNT = re.compile(r"SELECT COUNT\(\*\)(?!.*LIMIT)", re.IGNORECASE | re.DOTALL)


def _page(client: Any, url: str) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response, [q["sql"] for q in captured.captured_queries]


def test_a_list_past_the_cap_says_so_and_never_counts_the_table(cast, client, settings):
    # Given more memories than the cap
    settings.ADMIN_COUNT_CAP = 5
    for n in range(8):
        make_item(cast.workspace, content=f"Company fact number {n}")
    client.force_login(cast.user("owner"))

    # When the owner opens the memory list
    response, statements = _page(client, MEMORIES)

    # Then it shows the rows, says "5+" and counted at most cap + 1 rows
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 8
    assert response.context["cl"].result_count == 6
    assert "5+" in response.content.decode()
    counts = [sql for sql in statements if "COUNT(" in sql.upper()]
    assert counts and not any(UNCAPPED_COUNT.search(sql) for sql in counts)


def test_a_list_under_the_cap_shows_its_exact_count(cast, client, settings):
    settings.ADMIN_COUNT_CAP = 100
    for n in range(3):
        make_item(cast.workspace, content=f"Company fact number {n}")
    client.force_login(cast.user("owner"))

    response, _ = _page(client, MEMORIES)

    assert response.context["cl"].result_count == 3
    assert not isinstance(response.context["cl"].result_count, AtLeast)


def test_the_capped_paginator_pages_up_to_the_cap(cast, settings):
    settings.ADMIN_COUNT_CAP = 4
    for n in range(7):
        make_item(cast.workspace, content=f"Fact {n}")
    paginator = CappedCountPaginator(MemoryItem.objects.order_by("pk"), per_page=2)

    assert paginator.count == 5 and paginator.capped
    assert str(paginator.count) == "4+"
    assert paginator.num_pages == 3
    assert len(paginator.page(3).object_list) == 1  # the 5th row; the rest lie past the cap


def test_an_admin_page_reads_the_memberships_once(cast, client):
    make_item(cast.workspace, content="Company fact")
    client.force_login(cast.user("owner"))

    response, statements = _page(client, MEMORIES)

    assert response.status_code == 200
    assert sum("workspaces_membership" in sql for sql in statements) == 1
    memory_queries = [sql for sql in statements if 'FROM "memories_memoryitem"' in sql]
    assert memory_queries
    assert not any("workspaces_membership" in sql for sql in memory_queries)


@pytest.mark.parametrize("who", ["owner", "reviewer", "team_admin", "team_viewer", "outsider"])
def test_the_snapshot_scopes_exactly_as_the_subqueries_do(cast, who):
    # Given memories of every tier in two workspaces
    make_item(cast.workspace, content="Company-wide")
    make_item(cast.workspace, tier=Tier.TEAM, team=cast.sales, content="Sales team")
    make_item(cast.workspace, tier=Tier.TEAM, team=cast.marketing, content="Marketing team")
    make_item(cast.workspace, tier=Tier.PERSONAL, agent=cast.agent, content="Sales agent's own")
    make_item(cast.other_workspace, content="Another company's")
    user = cast.user(who)

    for action in (Action.VIEW, Action.REVIEW, Action.EDIT, Action.MANAGE):
        by_subquery = set(MemoryItem.objects.visible_to(user, action).values_list("pk", flat=True))
        snapshot_user = type(user).objects.get(pk=user.pk)
        snapshot_user._steward_grants_enabled = True
        by_snapshot = set(
            MemoryItem.objects.visible_to(snapshot_user, action).values_list("pk", flat=True)
        )
        assert by_snapshot == by_subquery, (who, action)


def test_outside_admin_requests_scoping_keeps_its_subqueries(cast):
    user = cast.user("owner")

    assert grants_of(user) is None
    sql = str(MemoryItem.objects.visible_to(user, Action.VIEW).query)
    assert "workspaces_membership" in sql


def test_grants_answer_role_questions(cast):
    grants = grants_load(cast.user("team_admin"))

    assert isinstance(grants, Grants)
    assert grants.workspace_ids(Action.VIEW) == []
    assert grants.team_ids(Action.MANAGE) == [cast.sales.pk]
    assert grants.holds({"admin"}) and not grants.holds({"admin"}, workspace_level_only=True)
    assert not grants.per_agent


@pytest.mark.parametrize(
    ("who", "expected"), [("operator", 200), ("owner", 403), ("admin", 403), ("viewer", 403)]
)
@pytest.mark.parametrize("page", ["auth_user", "auth_group"])
def test_accounts_and_groups_are_for_operators(cast, client, who, expected, page):
    client.force_login(cast.user(who))

    response = client.get(reverse(f"admin:{page}_changelist"))

    assert response.status_code == expected


@pytest.mark.parametrize(
    "who", ["owner", "admin", "reviewer", "team_admin", "team_viewer", "outsider"]
)
def test_reset_permission_from_the_snapshot_matches_the_query(cast, who):
    from apps.memories.services.console import may_reset_agent

    user = cast.user(who)
    by_query = may_reset_agent(user, cast.agent)
    snapshot_user = type(user).objects.get(pk=user.pk)
    snapshot_user._steward_grants_enabled = True

    assert may_reset_agent(snapshot_user, cast.agent) == by_query
    assert grants_of(snapshot_user) is not None


@pytest.mark.parametrize("who", ["owner", "viewer", "team_admin", "team_viewer", "outsider"])
def test_agent_pages_shortcut_agrees_with_the_scoped_rows(cast, who):
    from django.contrib import admin

    from apps.workspaces.models import Agent, AgentToken

    user = cast.user(who)
    asked = ((Agent, Action.VIEW), (Agent, Action.MANAGE), (AgentToken, Action.MANAGE))
    for model, action in asked:
        request = type("R", (), {})()
        snapshot_user = type(user).objects.get(pk=user.pk)
        snapshot_user._steward_grants_enabled = True
        request.user = snapshot_user
        request.__dict__["_steward_memo"] = {}
        model_admin = admin.site._registry[model]

        assert model_admin.capable(request, action) == (
            model_admin.holds_role_for(request, action)
            or model.objects.visible_to(user, action).exists()
        ), (model, action)
