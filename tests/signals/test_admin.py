"""Signals in the admin: read-only lists and pages, scoped per workspace; a trace's page shows
its feedback and outcomes; nobody can add, change or delete a row there."""

from __future__ import annotations

import pytest

from apps.signals import services
from apps.signals.models import Feedback, Outcome, Trace
from tests.signals.conftest import outcome_item, stored_trace

READERS = ("owner", "admin", "reviewer", "editor", "auditor", "viewer", "operator")


@pytest.fixture
def signals(cast):
    trace = stored_trace(cast.agent, task="Follow up with Initech")
    services.feedback_ingest(
        actor=cast.agent,
        items=[{"trace": trace.pk, "explanation": "Too pushy", "edited_output": "Hi,\n"}],
    )
    services.outcomes_ingest(
        actor=cast.agent, items=[outcome_item("m", trace=trace.pk, kind="meeting_booked")]
    )
    theirs = stored_trace(cast.other_agent, task="Globex secret plan")
    return {"trace": trace, "theirs": theirs}


@pytest.mark.parametrize("who", [*READERS, "outsider"])
def test_trace_list_is_scoped(client, cast, signals, who):
    client.force_login(cast.user(who))

    page = client.get("/admin/signals/trace/")

    assert page.status_code == 200
    assert (b"Follow up with Initech" in page.content) is (who != "outsider")
    assert (b"Globex secret plan" in page.content) is (who in ("outsider", "operator"))


def test_trace_page_shows_feedback_and_outcomes_read_only(client, cast, signals):
    client.force_login(cast.user("owner"))
    url = f"/admin/signals/trace/{signals['trace'].pk}/change/"

    page = client.get(url)

    assert page.status_code == 200
    assert b"Too pushy" in page.content and b"meeting_booked" in page.content.lower().replace(
        b"meeting booked", b"meeting_booked"
    )
    assert b'name="_save"' not in page.content
    client.post(url, {"task": "rewritten"})
    assert Trace.objects.get(pk=signals["trace"].pk).task == "Follow up with Initech"


@pytest.mark.parametrize("model", ["trace", "feedback", "outcome"])
def test_nobody_adds_or_deletes_signals_in_the_admin(client, cast, signals, model):
    client.force_login(cast.user("operator"))
    obj = {
        "trace": signals["trace"],
        "feedback": Feedback.objects.get(),
        "outcome": Outcome.objects.get(),
    }[model]

    assert client.get(f"/admin/signals/{model}/add/").status_code == 403
    client.post(f"/admin/signals/{model}/{obj.pk}/delete/", {"post": "yes"})
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert client.get(f"/admin/signals/{model}/").status_code == 200
    assert client.get(f"/admin/signals/{model}/{obj.pk}/change/").status_code == 200


def test_another_workspaces_trace_page_is_not_found(client, cast, signals):
    client.force_login(cast.user("owner"))

    response = client.get(f"/admin/signals/trace/{signals['theirs'].pk}/change/")

    assert response.status_code in (302, 404)
    assert b"Globex secret plan" not in response.content


def test_masked_values_show_as_chips_not_tokens(client, cast):
    from tests.signals.conftest import EMAIL

    trace = stored_trace(
        cast.agent, task=f"Write to {EMAIL}", output=f"Dear {EMAIL}", steps=[{"to": EMAIL}]
    )
    services.feedback_ingest(
        actor=cast.agent, items=[{"trace": trace.pk, "explanation": f"{EMAIL} said no"}]
    )
    client.force_login(cast.user("owner"))

    pages = [
        client.get("/admin/signals/trace/"),
        client.get(f"/admin/signals/trace/{trace.pk}/change/"),
        client.get("/admin/signals/feedback/"),
        client.get(f"/admin/signals/feedback/{Feedback.objects.get().pk}/change/"),
    ]

    for page in pages:
        assert page.status_code == 200
        assert EMAIL.encode() not in page.content
        assert b"&lt;EMAIL" not in page.content and b"<EMAIL" not in page.content
    assert pages[1].content.count(b"pii-chip") >= 3  # task, steps, output
