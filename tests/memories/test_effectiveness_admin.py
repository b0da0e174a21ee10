"""Memory effectiveness in the console: a panel on the memory page for whoever opens the page,
the promotion's decision page shows it (other kinds do not), with the figures of a constructed
case, the too-little-data state in words, and one query for it on each page."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.memories.services import memory_write
from apps.reviews import services as reviews
from apps.signals.models import Trace
from tests.memories.api_world import World, build_world
from tests.reviews.conftest import AGENT_SCOPES, propose
from tests.signals.effectiveness_world import runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


def change_page(pk: int) -> str:
    return reverse("admin:memories_memoryitem_change", args=[pk])


def review_page(pk: int) -> str:
    return reverse("admin:reviews_reviewrequest_change", args=[pk])


def effectiveness_queries(captured: CaptureQueriesContext) -> list[str]:
    table = Trace._meta.db_table
    return [q["sql"] for q in captured.captured_queries if f"FROM {table} t" in q["sql"]]


@pytest.mark.parametrize(
    "who", ["owner", "admin", "reviewer", "editor", "auditor", "viewer", "team_viewer", "operator"]
)
def test_the_memory_page_shows_the_figures_to_whoever_opens_it(world, client, who):
    item, other = world.items["sales"], world.items["workspace"]
    runs(world.cast.agent, 40, used=[item], outcomes={"positive_reply": 12, "complaint": 2})
    runs(world.cast.agent, 50, used=[other], outcomes={"meeting_booked": 10})
    client.force_login(world.cast.user(who))

    with CaptureQueriesContext(connection) as captured:
        response = client.get(change_page(item.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="effectiveness" data-status="ok"' in html
    assert "Observational, not causal." in html
    assert "30.0%" in html and "12 of 40" in html  # with
    assert "20.0%" in html and "10 of 50" in html  # without
    assert "+10.0 pts" in html
    assert "5.0%" in html and "2 of 40" in html  # complaints
    assert len(effectiveness_queries(captured)) == 1


def test_too_little_data_is_said_in_words(world, client):
    item = world.items["workspace"]
    runs(world.cast.agent, 4, used=[item], outcomes={"positive_reply": 1})
    client.force_login(world.cast.user("viewer"))

    html = client.get(change_page(item.pk)).content.decode()

    assert 'data-status="too_little_data"' in html
    assert "Too little data: 4 run(s) with this memory and 0 without" in html
    assert "25.0%" in html and "1 of 4" in html


def test_a_memory_never_used_says_so(world, client):
    client.force_login(world.cast.user("owner"))

    html = client.get(change_page(world.items["own"].pk)).content.decode()

    assert "No run in the window logged a context that included this memory." in html
    assert 'data-testid="effectiveness-table"' not in html


def _approved_personal(crew: Any) -> Any:
    return memory_write(
        actor=crew.agent,
        workspace=crew.workspace,
        content="Northwind prefers Tuesday calls",
        type="preference",
        agent=crew.agent,
        confidence=0.95,
        token_scopes=AGENT_SCOPES,
    ).item


@pytest.mark.parametrize("who", ["owner", "reviewer", "editor", "auditor", "viewer"])
def test_a_promotions_decision_page_shows_it(cast, client, who):
    item = _approved_personal(cast)
    runs(cast.agent, 25, used=[item], outcomes={"meeting_booked": 10})
    runs(cast.agent, 30, used=[], outcomes={"meeting_booked": 3, "unsubscribe": 3})
    request = reviews.review_promotion_request(actor=cast.user("editor"), item=item, tier="team")
    client.force_login(cast.user(who))

    with CaptureQueriesContext(connection) as captured:
        response = client.get(review_page(request.pk))

    assert response.status_code == 200
    result = response.context["effectiveness"]["result"]
    assert (result.status, result.traces_with, result.traces_without) == ("ok", 25, 30)
    html = response.content.decode()
    assert "Effectiveness where it is used now" in html
    assert "40.0%" in html and "10 of 25" in html and "+30.0 pts" in html
    assert "Observational, not causal." in html
    assert len(effectiveness_queries(captured)) == 1


def test_other_kinds_of_request_do_not_compute_it(cast, client):
    request = propose(cast, "Sales: lead with the customer's own numbers")
    client.force_login(cast.user("reviewer"))

    with CaptureQueriesContext(connection) as captured:
        response = client.get(review_page(request.pk))

    assert response.status_code == 200
    assert response.context["effectiveness"] is None
    assert 'data-testid="effectiveness"' not in response.content.decode()
    assert effectiveness_queries(captured) == []
