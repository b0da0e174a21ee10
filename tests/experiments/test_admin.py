"""Experiments in the admin: the list with status and progress for everyone with a role; an
experiment's page with its design, variants and weights, the sample size and the exposures so
far; start, stop and decide with a reason, for admins and owners only (others see no button
and are refused, nothing changes); each step audited."""

from __future__ import annotations

from typing import Any

import pytest

from apps.experiments import services
from apps.experiments.models import ExperimentStatus
from tests.api_helpers import WHO, audit_mark, audit_since
from tests.conftest import SYSTEM
from tests.experiments.conftest import make, state

PEOPLE = [who for who in WHO if who not in ("agent", "other_agent", "anonymous")]
RUNNERS = ("owner", "admin", "operator")
MEMBERS = ("owner", "admin", "reviewer", "editor", "auditor", "viewer", "operator")
ADMIN = "/admin/experiments/experiment"


@pytest.fixture
def staff(cast: Any) -> Any:
    for who in PEOPLE:
        user = cast.user(who)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return cast


@pytest.mark.parametrize("who", PEOPLE)
def test_the_list_shows_status_and_progress_to_members(client, staff, who):
    running = make(staff.workspace, "running-one", start=True)
    services.experiment_assign_bulk(actor=SYSTEM, experiment=running, unit_ids=["a", "b"])
    make(staff.workspace, "draft-one")
    make(staff.other_workspace, "globex-one")
    client.force_login(staff.user(who))

    page = client.get(f"{ADMIN}/")

    if who in MEMBERS:
        assert page.status_code == 200
        assert b"running-one" in page.content and b"draft-one" in page.content
        assert (b"globex-one" in page.content) is (who == "operator")
        total = 2 * running.sample_size_per_variant
        assert f"2 of {total:,}".encode() in page.content
    else:
        assert page.status_code in (302, 403) or b"running-one" not in page.content


def test_the_list_reads_a_fixed_number_of_queries(client, staff, django_assert_max_num_queries):
    for i in range(15):
        make(staff.workspace, f"many-{i}")
    client.force_login(staff.user("viewer"))
    client.get(f"{ADMIN}/")

    with django_assert_max_num_queries(14):
        page = client.get(f"{ADMIN}/")

    assert page.status_code == 200 and b"many-14" in page.content


def test_the_page_shows_the_design_sample_size_and_progress(client, staff):
    experiment = make(
        staff.workspace,
        "shown",
        start=True,
        hypothesis="Short first mails book more meetings.",
        eligibility={"channels": ["email"]},
    )
    services.experiment_assign_bulk(
        actor=SYSTEM,
        experiment=experiment,
        unit_ids=[f"u{i}" for i in range(10)],
        context=services.AssignContext(channel="email"),
    )
    client.force_login(staff.user("viewer"))

    page = client.get(f"{ADMIN}/{experiment.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200
    assert "Short first mails book more meetings." in text
    assert "control (control)" in text and "short" in text and "50%" in text
    assert f"{experiment.sample_size_per_variant:,} units per variant" in text
    assert "10 of" in text
    assert "email" in text and "meeting_booked" in text
    assert 'data-testid="experiment-lifecycle"' not in text  # a viewer runs nothing


@pytest.mark.parametrize("who", PEOPLE)
def test_starting_in_the_admin_needs_manage_and_a_reason(client, staff, who):
    experiment = make(staff.workspace, "to-start")
    client.force_login(staff.user(who))
    change = client.get(f"{ADMIN}/{experiment.pk}/change/")
    before, mark = state(experiment), audit_mark()

    empty = client.post(f"{ADMIN}/{experiment.pk}/start/", {"reason": ""})
    started = client.post(f"{ADMIN}/{experiment.pk}/start/", {"reason": "Weekly review"})

    experiment.refresh_from_db()
    if who in MEMBERS:
        assert change.status_code == 200
        assert (b'data-testid="experiment-lifecycle"' in change.content) is (who in RUNNERS)
    if who in RUNNERS:
        assert empty.status_code == started.status_code == 302
        assert experiment.status == ExperimentStatus.RUNNING
        assert [(e.action, e.reason) for e in audit_since(mark)] == [
            ("experiment.start", "Weekly review")
        ]
    else:
        assert started.status_code in (302, 403)
        assert state(experiment) == before and audit_since(mark) == []


def test_stop_and_decide_in_the_admin(client, staff):
    experiment = make(staff.workspace, "to-decide", start=True)
    client.force_login(staff.user("admin"))

    form = client.get(f"{ADMIN}/{experiment.pk}/stop/")
    client.post(f"{ADMIN}/{experiment.pk}/stop/", {"reason": "Sample size reached"})
    decide = client.get(f"{ADMIN}/{experiment.pk}/decide/")
    client.post(f"{ADMIN}/{experiment.pk}/decide/", {"reason": "Clear win", "winner": "short"})

    experiment.refresh_from_db()
    assert form.status_code == decide.status_code == 200
    assert b'value="short"' in decide.content
    assert experiment.status == ExperimentStatus.DECIDED
    assert experiment.winner.key == "short"


def test_a_step_out_of_order_is_a_message_not_an_error(client, staff):
    experiment = make(staff.workspace, "draft-two")
    client.force_login(staff.user("owner"))

    response = client.post(f"{ADMIN}/{experiment.pk}/decide/", {"reason": "x"}, follow=True)

    assert response.status_code == 200
    assert b"can&#x27;t be decided" in response.content or b"can't be decided" in response.content
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.DRAFT


ANALYSTS = ("owner", "admin", "editor", "operator")


@pytest.mark.parametrize("who", PEOPLE)
def test_analyze_now_in_the_admin_is_for_editors_and_up(client, staff, who):
    from apps.experiments.models import ExperimentAnalysis

    experiment = make(staff.workspace, "to-look-at", start=True)
    services.experiment_assign_bulk(actor=SYSTEM, experiment=experiment, unit_ids=["a", "b"])
    client.force_login(staff.user(who))
    change = client.get(f"{ADMIN}/{experiment.pk}/change/")
    confirm = client.get(f"{ADMIN}/{experiment.pk}/analyze/")
    mark = audit_mark()

    looked = client.post(f"{ADMIN}/{experiment.pk}/analyze/")

    looks = ExperimentAnalysis.objects.filter(experiment=experiment)
    if who in MEMBERS:
        assert change.status_code == 200
        assert (b'data-testid="experiment-analyze-link"' in change.content) is (who in ANALYSTS)
    if who in ANALYSTS:
        assert confirm.status_code == 200 and b"Analyze now" in confirm.content
        assert looked.status_code == 302
        assert [(look.trigger, look.exposures) for look in looks] == [("on_demand", 2)]
        assert [e.action for e in audit_since(mark)] == ["experiment.analyze"]
    else:
        assert confirm.status_code in (302, 403) and looked.status_code in (302, 403)
        assert not looks.exists() and audit_since(mark) == []


def test_a_draft_offers_no_analysis(client, staff):
    draft = make(staff.workspace, "a-draft")
    client.force_login(staff.user("owner"))

    change = client.get(f"{ADMIN}/{draft.pk}/change/")
    refused = client.post(f"{ADMIN}/{draft.pk}/analyze/", follow=True)

    assert b'data-testid="experiment-analyze-link"' not in change.content
    assert b"A draft has no exposures to analyze" in refused.content
