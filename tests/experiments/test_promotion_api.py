"""The promotion endpoint, the start's 202, the settings endpoint and the admin's buttons,
pages and review panels: permission matrices, bad input, idempotency, audit."""

from __future__ import annotations

from typing import Any

import pytest

from apps.experiments import promotion
from apps.experiments.models import Experiment, ExperimentSettings, ExperimentStatus
from apps.reviews.models import Kind
from apps.reviews.services import review_approve
from tests.api_helpers import (
    OUTSIDE,
    TEAM,
    WHO,
    assert_error,
    audit_mark,
    audit_since,
    each,
    matrix,
)
from tests.experiments.conftest import make, state
from tests.experiments.promotion_world import TIE, World, requests_of, store_look

BASE = "/api/v1/experiments"
SETTINGS = "/api/v1/experiment-settings"
RUNNERS = ("owner", "admin", "operator")
NOT_RUNNERS = ("reviewer", "editor", "auditor", "viewer")
HIDDEN = (*TEAM, *OUTSIDE)
PEOPLE = [who for who in WHO if who not in ("agent", "other_agent", "anonymous")]


@pytest.fixture
def world(cast: Any) -> World:
    world = World(cast)
    store_look(world.experiment)
    return world


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(202, *RUNNERS),
        **each(403, *NOT_RUNNERS),
        **each(404, *HIDDEN),
        agent=403,
        other_agent=403,
    ),
)
def test_promote_permissions(client_as, world, who, status):
    before, mark = world.snapshot(), audit_mark()

    response = client_as(who).post(f"{BASE}/promo/promote", {"reason": "clear win"}, format="json")

    assert response.status_code == status, response.content[:300]
    opened = requests_of(world.experiment, Kind.EXPERIMENT_RESULT)
    if status == 202:
        body = response.json()
        assert body["outcome"] == "requested" and body["winner"] == "short"
        assert body["review_request"] == opened[0].pk
        assert body["evidence"]["outcome"] == "winner"
        assert [e.action for e in audit_since(mark)] == ["experiment.promote_request"]
    else:
        assert_error(response, status)
        assert opened == [] and audit_since(mark) == []
    assert world.snapshot() == before


def test_promote_anonymous_is_refused(client_as, world):
    response = client_as("anonymous").post(f"{BASE}/promo/promote", {"reason": "x"})
    assert response.status_code in (401, 403)
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []


def test_the_gate_refusal_is_a_409_naming_what_is_missing(client_as, cast):
    world = World(cast)
    store_look(world.experiment, TIE)
    response = client_as("admin").post(f"{BASE}/promo/promote", {"reason": "x"}, format="json")
    body = assert_error(response, 409)
    assert "inconclusive, not winner" in str(body)
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"reason": ""},
        {"reason": 12},
        {"reason": ["a"]},
        {"reason": "x" * 2001},
        {"reason": "ok", "winner": "control"},
    ],
)
def test_promote_bad_input(client_as, world, payload):
    response = client_as("admin").post(f"{BASE}/promo/promote", payload, format="json")
    assert_error(response, 400)
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []


def test_promote_malformed_json(client_as, world):
    response = client_as("admin").post(
        f"{BASE}/promo/promote", "{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []


def test_promote_unknown_and_foreign_keys_are_404(client_as, cast, world):
    make(cast.other_workspace, "globex-promo", start=True)
    for key in ("nope", "globex-promo"):
        response = client_as("admin").post(f"{BASE}/{key}/promote", {"reason": "x"})
        assert_error(response, 404)


def test_promote_with_an_idempotency_key_opens_one_request(client_as, world):
    client = client_as("admin")
    headers = {"HTTP_IDEMPOTENCY_KEY": "promote-promo"}
    first = client.post(f"{BASE}/promo/promote", {"reason": "x"}, format="json", **headers)
    again = client.post(f"{BASE}/promo/promote", {"reason": "x"}, format="json", **headers)
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()
    assert len(requests_of(world.experiment, Kind.EXPERIMENT_RESULT)) == 1


def test_start_answers_202_when_approval_is_required(client_as, cast, draft):
    promotion.experiment_settings_update(
        actor=cast.user("owner"), workspace=cast.workspace, start_needs_approval=True
    )
    before = state(draft)

    response = client_as("admin").post(f"{BASE}/{draft.key}/start", {"reason": "go"})

    assert response.status_code == 202
    (request,) = requests_of(draft, Kind.EXPERIMENT_START)
    assert response.json() == {
        "outcome": "requested",
        "review_request": request.pk,
        "kind": "experiment_start",
        "experiment": draft.key,
    }
    assert state(draft) == before
    review_approve(actor=cast.user("reviewer"), request=request)
    assert Experiment.objects.get(pk=draft.pk).status == ExperimentStatus.RUNNING


def test_start_answers_200_without_the_setting(client_as, draft):
    response = client_as("admin").post(f"{BASE}/{draft.key}/start", {"reason": "go"})
    assert response.status_code == 200 and response.json()["status"] == "running"


# --- the settings endpoint --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *RUNNERS, *NOT_RUNNERS),
        **each(404, *OUTSIDE),
        team_admin=200,
        team_viewer=200,
        agent=403,
        other_agent=403,
    ),
)
def test_settings_read(client_as, cast, who, status):
    response = client_as(who).get(SETTINGS, {"workspace": cast.workspace.pk})
    assert response.status_code == status, response.content[:300]
    if status == 200:
        assert response.json()["start_needs_approval"] is False
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *RUNNERS),
        **each(403, *NOT_RUNNERS, *TEAM),
        **each(404, *OUTSIDE),
        agent=403,
        other_agent=403,
    ),
)
def test_settings_change(client_as, cast, who, status):
    mark = audit_mark()
    response = client_as(who).patch(
        SETTINGS, {"workspace": cast.workspace.pk, "start_needs_approval": True}, format="json"
    )
    assert response.status_code == status, response.content[:300]
    changed = ExperimentSettings.objects.filter(start_needs_approval=True).exists()
    if status == 200:
        assert response.json()["start_needs_approval"] is True and changed
        assert [e.action for e in audit_since(mark)] == ["experiment.settings_update"]
    else:
        assert_error(response, status)
        assert not changed and audit_since(mark) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"start_needs_approval": True},
        {"workspace": "1", "start_needs_approval": True},
        {"workspace": True, "start_needs_approval": True},
        {"workspace": 0, "start_needs_approval": True},
        {"workspace": "ours"},
        {"workspace": "ours", "start_needs_approval": "maybe"},
        {"workspace": "ours", "start_needs_approval": 1},
        {"workspace": "ours", "start_needs_approval": None},
        {"workspace": "ours", "start_needs_approval": True, "other": True},
    ],
)
def test_settings_bad_input(client_as, cast, body):
    if body.get("workspace") == "ours":
        body = {**body, "workspace": cast.workspace.pk}
    response = client_as("owner").patch(SETTINGS, body, format="json")
    assert_error(response, 400)
    assert not ExperimentSettings.objects.filter(start_needs_approval=True).exists()


@pytest.mark.parametrize("query", [{}, {"workspace": "abc"}, {"workspace": "-1"}])
def test_settings_read_bad_input(client_as, query):
    assert_error(client_as("owner").get(SETTINGS, query), 400)


def test_settings_of_unknown_or_foreign_workspaces_are_404(client_as, cast):
    for target in (cast.other_workspace.pk, 999999):
        response = client_as("owner").patch(
            SETTINGS, {"workspace": target, "start_needs_approval": True}, format="json"
        )
        assert_error(response, 404)
        assert_error(client_as("owner").get(SETTINGS, {"workspace": target}), 404)
    assert not ExperimentSettings.objects.filter(start_needs_approval=True).exists()


def test_settings_change_with_an_idempotency_key_is_audited_once(client_as, cast):
    client, mark = client_as("owner"), audit_mark()
    body = {"workspace": cast.workspace.pk, "start_needs_approval": True}
    for _ in range(2):
        response = client.patch(SETTINGS, body, format="json", HTTP_IDEMPOTENCY_KEY="settings-1")
        assert response.status_code == 200
    assert response["Idempotent-Replayed"] == "true"
    assert [e.action for e in audit_since(mark)] == ["experiment.settings_update"]


def test_settings_read_queries_are_fixed(client_as, cast, django_assert_max_num_queries):
    client = client_as("owner")
    client.get(SETTINGS, {"workspace": cast.workspace.pk})
    with django_assert_max_num_queries(8):
        assert client.get(SETTINGS, {"workspace": cast.workspace.pk}).status_code == 200


# --- the admin --------------------------------------------------------------------------------

ADMIN = "/admin/experiments/experiment"


@pytest.fixture
def staff(cast: Any) -> Any:
    for who in PEOPLE:
        user = cast.user(who)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return cast


@pytest.mark.parametrize("who", PEOPLE)
def test_promote_in_the_admin(client, staff, world, who):
    client.force_login(staff.user(who))
    page = client.get(f"{ADMIN}/{world.experiment.pk}/change/")
    before, mark = world.snapshot(), audit_mark()

    posted = client.post(f"{ADMIN}/{world.experiment.pk}/promote/", {"reason": "clear win"})

    opened = requests_of(world.experiment, Kind.EXPERIMENT_RESULT)
    if who in RUNNERS:
        assert b"Promote winner" in page.content
        assert posted.status_code == 302 and len(opened) == 1
        assert [e.action for e in audit_since(mark)] == ["experiment.promote_request"]
    else:
        if page.status_code == 200:
            assert b"Promote winner" not in page.content
        assert posted.status_code in (302, 403)
        assert opened == [] and audit_since(mark) == []
    assert world.snapshot() == before


def test_the_admin_says_when_the_gate_refuses(client, staff, cast):
    world = World(cast)
    store_look(world.experiment, TIE)
    client.force_login(staff.user("admin"))
    response = client.post(f"{ADMIN}/{world.experiment.pk}/promote/", {"reason": "x"}, follow=True)
    assert b"inconclusive, not winner" in response.content
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []


def test_the_review_page_shows_the_evidence_and_approves(client, staff, world):
    request = promotion.experiment_promote(
        actor=staff.user("admin"), experiment=world.experiment, reason="clear win"
    )
    client.force_login(staff.user("reviewer"))
    url = f"/admin/reviews/reviewrequest/{request.pk}/change/"

    page = client.get(url)

    assert page.status_code == 200
    text = page.content.decode()
    for testid in ("evidence-look", "evidence-decision", "evidence-srm", "evidence-counts"):
        assert f'data-testid="{testid}"' in text
    assert "always-valid interval" in text and "Approve &amp; promote" in text
    assert ">short<" in text and ">5000<" in text


def test_the_start_review_page_renders(client, staff, cast, draft):
    promotion.experiment_settings_update(
        actor=cast.user("owner"), workspace=cast.workspace, start_needs_approval=True
    )
    from apps.experiments import services

    services.experiment_start(actor=cast.user("admin"), experiment=draft, reason="go")
    (request,) = requests_of(draft, Kind.EXPERIMENT_START)
    client.force_login(staff.user("reviewer"))
    page = client.get(f"/admin/reviews/reviewrequest/{request.pk}/change/")
    assert page.status_code == 200
    assert b'data-testid="start-summary"' in page.content
    assert b"Approve &amp; start" in page.content


@pytest.mark.parametrize("who", PEOPLE)
def test_the_setting_in_the_admin(client, staff, who):
    client.force_login(staff.user(who))
    listing = client.get("/admin/experiments/experimentsettings/")
    settings = promotion.experiment_settings_for(staff.workspace.pk)
    mark = audit_mark()

    posted = client.post(
        f"/admin/experiments/experimentsettings/{settings.pk}/change/",
        {"start_needs_approval": "on"},
    )

    settings.refresh_from_db()
    if who in RUNNERS:
        assert listing.status_code == 200
        assert posted.status_code == 302 and settings.start_needs_approval
        assert [e.action for e in audit_since(mark)] == ["experiment.settings_update"]
    else:
        assert posted.status_code in (302, 403, 404)
        assert not settings.start_needs_approval and audit_since(mark) == []


def test_the_settings_list_reads_a_fixed_number_of_queries(
    client, staff, django_assert_max_num_queries
):
    client.force_login(staff.user("owner"))
    client.get("/admin/experiments/experimentsettings/")
    with django_assert_max_num_queries(30):
        assert client.get("/admin/experiments/experimentsettings/").status_code == 200
