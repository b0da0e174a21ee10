"""Experiments join the project's mechanisms: erasure deletes a data subject's exposures (found
by the keyed hash of each identifier as a unit, the hash outcomes carry) and scrubs the
hypothesis; retention prunes old exposures; every design and lifecycle change is audited
(the reconciler), while exposures are the assignment's own log."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.compliance import erasure
from apps.compliance.registry import retention_target
from apps.experiments import services
from apps.experiments.models import Exposure
from apps.privacy.services import privacy_policy_update
from tests.audit.reconciling import reconcile
from tests.compliance.conftest import EMAIL, EXTERNAL_ID, OTHER_EMAIL
from tests.conftest import SYSTEM
from tests.experiments.conftest import design, make


def _erase(cast, **identifiers):
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, reason="art. 17", **identifiers
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)
    request.refresh_from_db()
    return request


def test_erasure_deletes_the_subjects_exposures_in_their_workspace_only(cast):
    ours = make(cast.workspace, "ours", start=True)
    theirs = make(cast.other_workspace, "theirs", start=True)
    services.experiment_assign_bulk(
        actor=SYSTEM, experiment=ours, unit_ids=[EMAIL.upper(), EXTERNAL_ID, OTHER_EMAIL]
    )
    services.experiment_assign(actor=SYSTEM, experiment=theirs, unit_id=EMAIL)

    request = _erase(cast, emails=[EMAIL], external_ids=[EXTERNAL_ID])

    left = set(Exposure.objects.filter(experiment=ours).values_list("unit_hash", flat=True))
    assert left == {services.unit_hash(OTHER_EMAIL)}
    assert Exposure.objects.filter(experiment=theirs).count() == 1
    assert request.result["deleted"].get("experiments.Exposure") == 2


def test_erasure_scrubs_the_subject_out_of_the_hypothesis(cast):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "hash"})
    experiment = make(cast.workspace, hypothesis=f"Ask {EMAIL}: short mails win.")
    assert EMAIL not in experiment.hypothesis and "<" in experiment.hypothesis

    _erase(cast, emails=[EMAIL])

    experiment.refresh_from_db()
    assert "<REDACTED>" in experiment.hypothesis


def test_retention_prunes_exposures_past_their_age(cast, running):
    services.experiment_assign_bulk(actor=SYSTEM, experiment=running, unit_ids=["a", "b"])
    Exposure.objects.filter(unit_hash=services.unit_hash("a")).update(
        created_at=timezone.now() - dt.timedelta(days=400)
    )
    target = retention_target("experiments.Exposure")

    expired = target.expired(cast.workspace.pk, timezone.now() - dt.timedelta(days=365))

    assert list(expired.values_list("unit_hash", flat=True)) == [services.unit_hash("a")]


def test_design_lifecycle_and_assignment_leave_nothing_unaudited(cast):
    owner = cast.user("owner")

    def mutate():
        experiment = services.experiment_create(
            actor=cast.user("editor"), workspace=cast.workspace, **design(key="audited")
        )
        experiment = services.experiment_update(
            actor=owner,
            experiment=experiment,
            exposure_cap=10,
            variants=[{"key": "control", "is_control": True}, {"key": "short", "weight": 2}],
        )
        experiment = services.experiment_start(actor=owner, experiment=experiment, reason="go")
        services.experiment_assign_bulk(
            actor=cast.agent, experiment=experiment, unit_ids=["a", "b", "c"]
        )
        services.experiment_stop(actor=owner, experiment=experiment, reason="done")
        services.experiment_decide(actor=owner, experiment=experiment, reason="x", winner="short")

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("experiments.experiment") == 1
    assert result.count("experiments.variant") == 2  # the two the update put in place
    assert Exposure.objects.count() == 3
