"""Start approval: the workspace setting, the `experiment_start` request and its decisions."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.experiments import promotion, services
from apps.experiments.models import Experiment, ExperimentSettings, ExperimentStatus
from apps.reviews.models import Kind
from apps.reviews.services import review_approve, review_reject
from tests.experiments.conftest import make, state
from tests.experiments.promotion_world import requests_of


def require_approval(cast: Any, on: bool = True) -> None:
    promotion.experiment_settings_update(
        actor=cast.user("owner"), workspace=cast.workspace, start_needs_approval=on
    )


def test_without_the_setting_start_is_direct(cast: Any, draft: Experiment) -> None:
    started = services.experiment_start(actor=cast.user("admin"), experiment=draft, reason="go")
    assert started.status == ExperimentStatus.RUNNING
    assert requests_of(draft, Kind.EXPERIMENT_START) == []


def test_with_the_setting_start_opens_a_request(cast: Any, draft: Experiment) -> None:
    require_approval(cast)
    before = state(draft)

    answer = services.experiment_start(
        actor=cast.user("admin"), experiment=draft, reason="Weekly review said go"
    )

    assert answer.status == ExperimentStatus.DRAFT
    assert state(draft) == before
    (request,) = requests_of(draft, Kind.EXPERIMENT_START)
    assert request.status == "pending" and request.requested_by_user == cast.user("admin")
    assert request.details["note"] == "Weekly review said go"
    event = AuditEvent.objects.get(action="experiment.start_request")
    assert event.after == {"request": request.pk, "status": "draft"}


def test_approval_starts_the_experiment(cast: Any, draft: Experiment) -> None:
    require_approval(cast)
    services.experiment_start(actor=cast.user("admin"), experiment=draft, reason="go")
    (request,) = requests_of(draft, Kind.EXPERIMENT_START)

    review_approve(actor=cast.user("reviewer"), request=request, reason="fine")

    started = Experiment.objects.get(pk=draft.pk)
    assert started.status == ExperimentStatus.RUNNING and started.started_at is not None
    event = AuditEvent.objects.filter(action="experiment.start").get()
    assert event.after["request"] == request.pk
    assert event.after["requested_by"] == cast.user("admin").pk
    assert event.actor_id == str(cast.user("reviewer").pk)
    assert AuditEvent.objects.filter(action="review.approve", object_id=str(request.pk)).exists()


def test_rejection_leaves_the_draft(cast: Any, draft: Experiment) -> None:
    require_approval(cast)
    services.experiment_start(actor=cast.user("admin"), experiment=draft, reason="go")
    (request,) = requests_of(draft, Kind.EXPERIMENT_START)
    before = state(draft)

    review_reject(actor=cast.user("reviewer"), request=request, reason="Not before launch")

    assert state(draft) == before
    request.refresh_from_db()
    assert request.decision == "rejected"


def test_the_requester_cannot_approve_the_start(cast: Any, draft: Experiment) -> None:
    require_approval(cast)
    services.experiment_start(actor=cast.user("owner"), experiment=draft, reason="go")
    (request,) = requests_of(draft, Kind.EXPERIMENT_START)
    before = state(draft)
    with pytest.raises(Forbidden, match="Four eyes"):
        review_approve(actor=cast.user("owner"), request=request)
    assert state(draft) == before


def test_a_design_changed_after_the_request_is_not_started(cast: Any, draft: Experiment) -> None:
    require_approval(cast)
    services.experiment_start(actor=cast.user("admin"), experiment=draft, reason="go")
    (request,) = requests_of(draft, Kind.EXPERIMENT_START)
    services.experiment_update(actor=cast.user("editor"), experiment=draft, exposure_cap=50)
    with pytest.raises(Conflict, match="design changed"):
        review_approve(actor=cast.user("reviewer"), request=request)
    assert Experiment.objects.get(pk=draft.pk).status == ExperimentStatus.DRAFT


def test_one_waiting_start_per_experiment(cast: Any, draft: Experiment) -> None:
    require_approval(cast)
    services.experiment_start(actor=cast.user("admin"), experiment=draft, reason="go")
    with pytest.raises(Conflict, match="already waiting"):
        services.experiment_start(actor=cast.user("owner"), experiment=draft, reason="go")
    assert len(requests_of(draft, Kind.EXPERIMENT_START)) == 1


def test_the_setting_applies_to_its_workspace_only(cast: Any) -> None:
    require_approval(cast)
    theirs = make(cast.other_workspace, "globex-two")
    started = services.experiment_start(actor=cast.user("outsider"), experiment=theirs, reason="go")
    assert started.status == ExperimentStatus.RUNNING


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("owner", True),
        ("admin", False),  # the requester
        ("reviewer", True),
        ("editor", False),
        ("auditor", False),
        ("viewer", False),
        ("outsider", False),
        ("nobody", False),
        ("team_admin", False),
    ],
)
def test_who_decides_a_start(cast: Any, draft: Experiment, who: str, allowed: bool) -> None:
    require_approval(cast)
    services.experiment_start(actor=cast.user("admin"), experiment=draft, reason="go")
    (request,) = requests_of(draft, Kind.EXPERIMENT_START)
    before = state(draft)
    if allowed:
        review_approve(actor=cast.user(who), request=request)
        assert Experiment.objects.get(pk=draft.pk).status == ExperimentStatus.RUNNING
        return
    with pytest.raises(Exception) as caught:
        review_approve(actor=cast.user(who), request=request)
    assert type(caught.value).__name__ in {"Forbidden", "NotFound"}
    assert state(draft) == before
    request.refresh_from_db()
    assert request.status == "pending"


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("owner", True),
        ("admin", True),
        ("reviewer", False),
        ("editor", False),
        ("auditor", False),
        ("viewer", False),
        ("outsider", False),
        ("nobody", False),
        ("team_admin", False),
    ],
)
def test_who_changes_the_setting(cast: Any, who: str, allowed: bool) -> None:
    events = AuditEvent.objects.filter(action="experiment.settings_update").count()
    if allowed:
        promotion.experiment_settings_update(
            actor=cast.user(who), workspace=cast.workspace, start_needs_approval=True
        )
        assert promotion.experiment_settings_for(cast.workspace.pk).start_needs_approval
        event = AuditEvent.objects.filter(action="experiment.settings_update").get()
        assert event.before == {"start_needs_approval": False}
        assert event.after == {"start_needs_approval": True}
        return
    with pytest.raises(Exception) as caught:
        promotion.experiment_settings_update(
            actor=cast.user(who), workspace=cast.workspace, start_needs_approval=True
        )
    assert type(caught.value).__name__ in {"Forbidden", "NotFound"}
    assert not ExperimentSettings.objects.filter(start_needs_approval=True).exists()
    assert AuditEvent.objects.filter(action="experiment.settings_update").count() == events


def test_agents_do_not_change_the_setting(cast: Any) -> None:
    with pytest.raises(Forbidden):
        promotion.experiment_settings_update(
            actor=cast.agent, workspace=cast.workspace, start_needs_approval=True
        )


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_the_setting_is_a_boolean(cast: Any, value: Any) -> None:
    with pytest.raises(ValidationFailed):
        promotion.experiment_settings_update(
            actor=cast.user("owner"), workspace=cast.workspace, start_needs_approval=value
        )
    assert not ExperimentSettings.objects.filter(start_needs_approval=True).exists()
