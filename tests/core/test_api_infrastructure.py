"""What every API endpoint shares: per-agent throttling, cursor pages, request ids, the OpenAPI
schema and docs, CSRF for browser sessions, and JSON errors from outside DRF."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.core.cache import cache
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from apps.core.request_context import get_request_id
from apps.workspaces.models import Agent, Workspace
from tests.api_helpers import assert_error, audit_mark, audit_since
from tests.workspaces.factories import AgentFactory, AgentTokenFactory

# --- throttling -------------------------------------------------------------------------------


@pytest.fixture
def three_per_minute(settings: Any) -> Any:
    settings.AGENT_THROTTLE_RATE = "3/min"
    cache.clear()
    yield
    cache.clear()


def test_an_agent_over_its_rate_gets_429_with_retry_after(cast, client_as, three_per_minute):
    agent = client_as("agent")

    allowed = [agent.get("/api/v1/agents/me").status_code for _ in range(3)]
    refused = agent.get("/api/v1/agents/me")

    assert allowed == [200, 200, 200]
    assert_error(refused, 429, "throttled")
    assert 1 <= int(refused["Retry-After"]) <= 61


def test_two_agents_have_separate_budgets(cast, client_as, three_per_minute):
    agent, other = client_as("agent"), client_as("other_agent")
    for _ in range(3):
        agent.get("/api/v1/agents/me")

    assert agent.get("/api/v1/agents/me").status_code == 429
    assert [other.get("/api/v1/agents/me").status_code for _ in range(3)] == [200, 200, 200]
    assert other.get("/api/v1/agents/me").status_code == 429


def test_a_new_token_of_the_same_agent_shares_its_budget(cast, client_as, three_per_minute):
    second = APIClient(HTTP_AUTHORIZATION=f"Bearer {AgentTokenFactory(agent=cast.agent).raw}")
    for _ in range(3):
        client_as("agent").get("/api/v1/agents/me")

    assert second.get("/api/v1/agents/me").status_code == 429


def test_people_are_not_throttled(cast, client_as, three_per_minute):
    owner = client_as("owner")

    statuses = {owner.get("/api/v1/agents").status_code for _ in range(10)}

    assert statuses == {200}


def test_the_default_rate_lets_a_busy_agent_work(cast, client_as):
    cache.clear()
    agent = client_as("agent")

    statuses = {agent.get("/api/v1/agents/me").status_code for _ in range(20)}

    assert statuses == {200}


# --- pagination -------------------------------------------------------------------------------


def _page(client: APIClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return dict(response.json())


def test_cursor_pages_walk_every_row_once_newest_first(cast, client_as):
    AgentFactory.create_batch(6, workspace=cast.workspace)
    owner = client_as("owner")

    pages = [_page(owner, "/api/v1/agents?page_size=3")]
    while pages[-1]["next"]:
        pages.append(_page(owner, pages[-1]["next"]))

    ids = [item["id"] for page in pages for item in page["results"]]
    assert [len(page["results"]) for page in pages] == [3, 3, 1]
    assert (
        ids
        == sorted(Agent.objects.filter(workspace=cast.workspace).values_list("id", flat=True))[::-1]
    )
    assert pages[0]["previous"] is None
    back = _page(owner, pages[1]["previous"])
    assert back["results"] == pages[0]["results"]


def test_page_size_is_capped_at_500(cast, client_as):
    Agent.objects.bulk_create(
        Agent(workspace=cast.workspace, name=f"Bulk {n}", slug=f"bulk-{n}") for n in range(505)
    )

    body = _page(client_as("owner"), "/api/v1/agents?page_size=100000")

    assert len(body["results"]) == 500
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", ["0", "-1", "abc", "", "1.5"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_refused(cast, client_as, page_size):
    response = client_as("owner").get(f"/api/v1/agents?page_size={page_size}")

    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"page_size"}


def test_no_page_size_is_the_default_page(cast, client_as):
    AgentFactory.create_batch(55, workspace=cast.workspace)

    body = _page(client_as("owner"), "/api/v1/agents")

    assert len(body["results"]) == 50


def _cursor(**tokens: str) -> str:
    return base64.b64encode(urlencode(tokens).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "%FF",
        _cursor(o="x"),
        _cursor(p="abc"),
        _cursor(p="1; DROP TABLE"),
        _cursor(p=str(10**30)),
        _cursor(r="maybe"),
    ],
)
def test_a_bad_or_forged_cursor_is_400_not_404_or_500(cast, client_as, cursor):
    response = client_as("owner").get(f"/api/v1/agents?cursor={cursor}")

    error = assert_error(response, 400, "invalid")
    assert "cursor" in error["fields"]


def test_a_well_formed_cursor_from_another_list_is_harmless(cast, client_as):
    AgentFactory.create_batch(4, workspace=cast.workspace)
    owner = client_as("owner")
    next_url = _page(owner, "/api/v1/agents?page_size=2")["next"]
    cursor = parse_qs(urlparse(next_url).query)["cursor"][0]

    response = owner.get(f"/api/v1/teams?cursor={cursor}")

    assert response.status_code == 200


# --- request ids ------------------------------------------------------------------------------


def test_a_request_id_is_generated(db, client_as):
    response = client_as("anonymous").get("/api/v1/agents/me")

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert get_request_id() == ""  # reset once the request is over


def test_a_well_formed_request_id_is_echoed(db, client_as):
    response = client_as("anonymous").get("/api/v1/agents/me", HTTP_X_REQUEST_ID="lb-1234:abcd.ef")

    assert response["X-Request-ID"] == "lb-1234:abcd.ef"


@pytest.mark.parametrize(
    "incoming", ["short", "x" * 65, "has spaces in it", "semi;colon12", "é" * 10]
)
def test_a_malformed_request_id_is_replaced(db, client_as, incoming):
    response = client_as("anonymous").get("/api/v1/agents/me", HTTP_X_REQUEST_ID=incoming)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_every_response_carries_one_even_a_413(db, client_as, settings):
    settings.API_MAX_BODY_BYTES = 1024

    response = client_as("owner").post(
        "/api/v1/teams", {"name": "x" * 2000}, HTTP_X_REQUEST_ID="big-body-0001"
    )

    assert_error(response, 413, "payload_too_large")
    assert response["X-Request-ID"] == "big-body-0001"


def test_the_request_id_is_recorded_on_the_audit_event(cast, client_as):
    owner, mark = client_as("owner"), audit_mark()

    given = owner.patch(
        f"/api/v1/workspaces/{cast.workspace.pk}", {"name": "A"}, HTTP_X_REQUEST_ID="trace-000001"
    )
    generated = owner.patch(f"/api/v1/workspaces/{cast.workspace.pk}", {"name": "B"})

    events = audit_since(mark)
    assert [event.request_id for event in events] == ["trace-000001", generated["X-Request-ID"]]
    assert given.status_code == 200


# --- OpenAPI schema and docs ------------------------------------------------------------------


def test_schema_is_served_valid_and_documents_agents_me_with_bearer_auth(db, client_as):
    response = client_as("anonymous").get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)
    paths = {path.rstrip("/"): operations for path, operations in schema["paths"].items()}
    assert "/api/v1/agents/me" in paths
    assert {"AgentToken": []} in paths["/api/v1/agents/me"]["get"]["security"]
    scheme = schema["components"]["securitySchemes"]["AgentToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_schema_generation_has_no_warnings(db, tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


def test_swagger_ui_is_served(db, client_as):
    response = client_as("anonymous").get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


# --- browser sessions and CSRF ----------------------------------------------------------------


@pytest.fixture
def browser(cast: Any) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="owner", password="pw")
    return client


def test_session_reads_need_no_csrf_token(cast, browser):
    response = browser.get(f"/api/v1/workspaces/{cast.workspace.pk}")

    assert response.status_code == 200


def test_session_writes_without_a_csrf_token_are_refused(cast, browser):
    mark = audit_mark()

    response = browser.patch(f"/api/v1/workspaces/{cast.workspace.pk}", {"name": "Hijacked"})

    error = assert_error(response, 403, "permission_denied")
    assert "CSRF" in error["message"]
    assert Workspace.objects.get(pk=cast.workspace.pk).name == "Acme"
    assert audit_since(mark) == []


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_every_unsafe_method_is_checked(cast, browser, method):
    response = getattr(browser, method)(f"/api/v1/teams/{cast.marketing.pk}", {"name": "X"})

    assert_error(response, 403, "permission_denied")


def test_session_writes_with_the_csrf_token_succeed(cast, browser):
    secret = "a" * 32
    browser.cookies["csrftoken"] = secret

    response = browser.patch(
        f"/api/v1/workspaces/{cast.workspace.pk}", {"name": "Acme Corp"}, HTTP_X_CSRFTOKEN=secret
    )

    assert response.status_code == 200
    assert Workspace.objects.get(pk=cast.workspace.pk).name == "Acme Corp"


def test_agent_tokens_are_not_subject_to_csrf(cast):
    agent = APIClient(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {cast.agent_secret}")

    response = agent.get("/api/v1/agents/me")

    assert response.status_code == 200


# --- errors raised outside DRF ----------------------------------------------------------------


def test_an_unhandled_error_is_a_json_500_with_the_request_id(cast, monkeypatch):
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("apps.workspaces.services.team_create", broken)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(cast.user("owner"))

    response = client.post(
        "/api/v1/teams", {"workspace": cast.workspace.pk, "name": "S", "slug": "s"}
    )

    error = assert_error(response, 500, "server_error")
    assert "boom" not in error["message"]
    assert response["X-Request-ID"]


def test_a_disallowed_host_on_an_api_path_is_a_json_400(db, client_as):
    response = client_as("anonymous").get("/api/v1/agents", HTTP_HOST="evil.example")

    assert_error(response, 400, "malformed_request")


def test_pages_outside_the_api_keep_django_s_html_errors(db, client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
