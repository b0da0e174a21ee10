"""The promotion gate and what approving or rejecting a promotion does (services and the
review queue; the API and admin are in test_promotion_api.py)."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.experiments import promotion, services
from apps.experiments.models import Experiment, ExperimentStatus
from apps.memories.models import Status
from apps.policies import services as policies
from apps.policies.models import ArtifactVersion, LabelEvent
from apps.reviews.models import Kind, ReviewRequest
from apps.reviews.services import review_approve, review_reject
from tests.conftest import SYSTEM
from tests.experiments.promotion_world import (
    HARMFUL,
    SKEWED,
    TIE,
    World,
    requests_of,
    store_look,
)


@pytest.fixture
def world(cast: Any) -> World:
    return World(cast)


def promote(cast: Any, world: World, who: str = "admin") -> ReviewRequest:
    return promotion.experiment_promote(
        actor=cast.user(who), experiment=world.experiment, reason="short wins clearly"
    )


# --- the gate refuses -------------------------------------------------------------------------


def refused(cast: Any, world: World) -> str:
    before = world.snapshot()
    events = AuditEvent.objects.count()
    with pytest.raises(Conflict) as caught:
        promote(cast, world)
    assert world.snapshot() == before
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []
    assert AuditEvent.objects.count() == events
    return caught.value.message


def test_the_gate_refuses_without_a_look(cast: Any, world: World) -> None:
    assert "no look yet" in refused(cast, world)


def test_the_gate_refuses_an_inconclusive_look(cast: Any, world: World) -> None:
    store_look(world.experiment, TIE)
    message = refused(cast, world)
    assert "inconclusive, not winner" in message
    assert "SRM" not in message and "guardrail" not in message


def test_the_gate_refuses_when_the_sample_ratio_check_fails(cast: Any, world: World) -> None:
    store_look(world.experiment, SKEWED)
    message = refused(cast, world)
    assert "sample-ratio check fails (SRM)" in message
    assert "blocked srm, not winner" in message


def test_the_gate_refuses_when_a_guardrail_is_harmed(cast: Any, world: World) -> None:
    look = store_look(world.experiment, guardrail=HARMFUL)
    assert look.winner_key == "short"  # the rule names it, but blocks it
    message = refused(cast, world)
    assert "a guardrail metric is harmed" in message
    assert "blocked guardrail, not winner" in message


def test_the_gate_refuses_a_look_older_than_the_stop(cast: Any, world: World) -> None:
    store_look(world.experiment, computed_at=world.experiment.started_at)
    world.experiment = services.experiment_stop(
        actor=SYSTEM, experiment=world.experiment, reason="enough"
    )
    assert "older than the experiment's last change of status" in refused(cast, world)


def test_the_gate_refuses_drafts_and_decided_experiments(cast: Any) -> None:
    draft = World(cast, start=False)
    store_look(draft.experiment)
    assert "only a running or stopped experiment" in refused(cast, draft)


def test_the_gate_reads_the_latest_look(cast: Any, world: World) -> None:
    store_look(world.experiment)
    store_look(world.experiment, TIE)
    assert "inconclusive" in refused(cast, world)


# --- the gate opens a request -----------------------------------------------------------------


def test_a_winning_look_opens_a_request_with_the_evidence_frozen(cast: Any, world: World) -> None:
    look = store_look(world.experiment)
    before = world.snapshot()

    request = promote(cast, world)

    assert request.kind == Kind.EXPERIMENT_RESULT and request.status == "pending"
    assert request.subject_id == world.experiment.pk
    assert request.requested_by_user == cast.user("admin")
    evidence = request.details["evidence"]
    assert evidence["analysis"] == look.pk and evidence["outcome"] == "winner"
    assert evidence["result"]["decision"]["variant"] == "short"
    assert evidence["srm_passed"] and evidence["guardrails_passed"]
    assert world.snapshot() == before  # nothing changes until the approval
    event = AuditEvent.objects.filter(action="experiment.promote_request").get()
    assert event.after["request"] == request.pk and event.reason == "short wins clearly"


def test_a_second_promotion_waits_for_the_first(cast: Any, world: World) -> None:
    store_look(world.experiment)
    promote(cast, world)
    with pytest.raises(Conflict, match="already waiting"):
        promote(cast, world, "owner")
    assert len(requests_of(world.experiment, Kind.EXPERIMENT_RESULT)) == 1


@pytest.mark.parametrize("reason", ["", "   ", 7, "x" * 2001])
def test_promote_needs_a_reason(cast: Any, world: World, reason: Any) -> None:
    store_look(world.experiment)
    with pytest.raises(ValidationFailed):
        promotion.experiment_promote(
            actor=cast.user("admin"), experiment=world.experiment, reason=reason
        )
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []


# --- approval ---------------------------------------------------------------------------------


def test_approval_promotes_the_winner(cast: Any, world: World) -> None:
    store_look(world.experiment)
    request = promote(cast, world)

    review_approve(actor=cast.user("reviewer"), request=request, reason="Looks right")

    experiment = Experiment.objects.get(pk=world.experiment.pk)
    assert experiment.status == ExperimentStatus.DECIDED
    assert experiment.winner is not None and experiment.winner.key == "short"
    assert experiment.stopped_at is not None and experiment.decided_at is not None
    # the production label moved to the winner's version, as an approved review
    assert world.production() == world.v2.pk
    moved = LabelEvent.objects.filter(artifact=world.artifact).order_by("-id").first()
    assert moved is not None and moved.review_request_id == request.pk
    assert moved.how == LabelEvent.How.APPROVED and moved.from_version_id == world.v1.pk
    # the winner's proposed memory is approved; the loser's proposed one rejected
    assert world.statuses() == {
        "short_proposed": Status.APPROVED,
        "short_approved": Status.APPROVED,
        "old_proposed": Status.REJECTED,
        "old_approved": Status.APPROVED,  # approved knowledge of the control stays
        "unrelated": Status.PROPOSED,
    }
    retired = dict(experiment.variants.values_list("key", "retired_at"))
    assert retired["short"] is None and retired["control"] is not None
    # release notes on the experiment and in the promoted version's changelog
    notes = experiment.release_notes
    assert "short promoted" in notes and f"review #{request.pk}" in notes
    assert "first-email v2 now holds production" in notes
    assert "always-valid interval" in notes and "Approved by reviewer" in notes
    assert "Looks right" in notes and "short wins clearly" in notes
    assert notes in ArtifactVersion.objects.get(pk=world.v2.pk).message
    request.refresh_from_db()
    assert request.decision == "approved" and request.decided_by == cast.user("reviewer")


def test_every_step_of_the_approval_is_audited(cast: Any, world: World) -> None:
    store_look(world.experiment)
    request = promote(cast, world)
    first = AuditEvent.objects.order_by("-id").first()
    assert first is not None

    review_approve(actor=cast.user("reviewer"), request=request, reason="ok")

    actions = list(
        AuditEvent.objects.filter(id__gt=first.pk).order_by("id").values_list("action", flat=True)
    )
    assert actions == [
        "review.approve",
        "policy.label_move",
        "memory.approve",
        "memory.reject",
        "policy.version_changelog",
        "experiment.promote",
    ]
    promote_event = AuditEvent.objects.get(action="experiment.promote")
    assert promote_event.after["winner"] == "short"
    assert promote_event.after["retired"] == ["control"]
    assert promote_event.after["memories_approved"] == [world.short_proposed.pk]
    assert promote_event.after["memories_rejected"] == [world.old_proposed.pk]
    assert promote_event.before == {"status": "running", "winner": None}


def test_a_stopped_experiment_is_promoted_on_a_look_after_the_stop(cast: Any) -> None:
    world = World(cast, stop=True)
    store_look(world.experiment)
    request = promote(cast, world)
    review_approve(actor=cast.user("owner"), request=request)
    experiment = Experiment.objects.get(pk=world.experiment.pk)
    assert experiment.status == ExperimentStatus.DECIDED
    assert experiment.stopped_at == world.experiment.stopped_at  # kept, not re-stamped


def test_rollback_after_a_promotion_is_instant(cast: Any, world: World) -> None:
    store_look(world.experiment)
    review_approve(actor=cast.user("reviewer"), request=promote(cast, world))
    assert world.production() == world.v2.pk

    policies.policy_label_rollback(
        actor=cast.user("reviewer"), artifact=world.artifact, label="production", version=world.v1
    )

    assert world.production() == world.v1.pk
    assert not ReviewRequest.objects.filter(kind=Kind.POLICY_VERSION).exists()


def test_rejection_changes_nothing(cast: Any, world: World) -> None:
    store_look(world.experiment)
    request = promote(cast, world)
    before = world.snapshot()

    review_reject(actor=cast.user("reviewer"), request=request, reason="Not this quarter")

    assert world.snapshot() == before
    request.refresh_from_db()
    assert request.decision == "rejected" and request.reason == "Not this quarter"
    assert AuditEvent.objects.filter(action="review.reject", object_id=str(request.pk)).exists()


def test_approval_refuses_when_the_evidence_no_longer_holds(cast: Any, world: World) -> None:
    store_look(world.experiment)
    request = promote(cast, world)
    store_look(world.experiment, guardrail=HARMFUL)  # a newer look: a guardrail is harmed
    before = world.snapshot()

    with pytest.raises(Conflict, match="evidence no longer holds"):
        review_approve(actor=cast.user("reviewer"), request=request)

    assert world.snapshot() == before
    request.refresh_from_db()
    assert request.status == "pending"  # the reviewer may still reject it


def test_the_requester_cannot_approve(cast: Any, world: World) -> None:
    store_look(world.experiment)
    request = promote(cast, world, "owner")
    before = world.snapshot()
    with pytest.raises(Forbidden, match="Four eyes"):
        review_approve(actor=cast.user("owner"), request=request)
    assert world.snapshot() == before
    request.refresh_from_db()
    assert request.status == "pending"


def test_four_eyes_holds_even_where_the_workspace_turned_it_off(cast: Any, world: World) -> None:
    from apps.reviews.services import review_settings_update

    review_settings_update(actor=cast.user("owner"), workspace=cast.workspace, four_eyes_tiers=[])
    store_look(world.experiment)
    request = promote(cast, world)
    with pytest.raises(Forbidden):
        review_approve(actor=cast.user("admin"), request=request)


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
def test_who_decides_a_promotion(cast: Any, world: World, who: str, allowed: bool) -> None:
    store_look(world.experiment)
    request = promote(cast, world)
    before = world.snapshot()
    if allowed:
        review_approve(actor=cast.user(who), request=request)
        assert world.production() == world.v2.pk
        return
    with pytest.raises((Forbidden, Exception)) as caught:
        review_approve(actor=cast.user(who), request=request)
    assert type(caught.value).__name__ in {"Forbidden", "NotFound"}
    assert world.snapshot() == before
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
    ],
)
def test_who_may_ask_for_a_promotion(cast: Any, world: World, who: str, allowed: bool) -> None:
    store_look(world.experiment)
    if allowed:
        assert promote(cast, world, who).kind == Kind.EXPERIMENT_RESULT
        return
    with pytest.raises(Exception) as caught:
        promote(cast, world, who)
    assert type(caught.value).__name__ in {"Forbidden", "NotFound"}
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []


def test_agents_do_not_promote(cast: Any, world: World) -> None:
    store_look(world.experiment)
    with pytest.raises(Forbidden):
        promotion.experiment_promote(actor=cast.agent, experiment=world.experiment, reason="x")
    assert requests_of(world.experiment, Kind.EXPERIMENT_RESULT) == []


def test_a_decided_request_is_not_decided_twice(cast: Any, world: World) -> None:
    store_look(world.experiment)
    request = promote(cast, world)
    review_approve(actor=cast.user("reviewer"), request=request)
    before = world.snapshot()
    with pytest.raises(Conflict, match="already decided"):
        review_approve(actor=cast.user("owner"), request=request)
    assert world.snapshot() == before


def test_the_reconciler_finds_every_change_audited(cast: Any) -> None:
    from tests.audit.reconciling import reconcile

    world = World(cast, start=False)

    def mutate() -> None:
        promotion.experiment_settings_update(
            actor=cast.user("owner"), workspace=cast.workspace, start_needs_approval=True
        )
        services.experiment_start(
            actor=cast.user("admin"), experiment=world.experiment, reason="go"
        )
        (start,) = requests_of(world.experiment, Kind.EXPERIMENT_START)
        review_approve(actor=cast.user("owner"), request=start)
        store_look(world.experiment)
        review_approve(actor=cast.user("reviewer"), request=promote(cast, world))

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("experiments.experiment") == 1
    assert result.count("experiments.variant") == 1  # the retired control
    assert result.count("reviews.reviewrequest") == 2
    assert result.count("policies.label") == 1


def test_the_gate_reads_the_analysis_service_look(cast: Any, world: World) -> None:
    from apps.experiments.analysis import experiment_analyze

    services.experiment_assign_bulk(
        actor=SYSTEM, experiment=world.experiment, unit_ids=[f"lead-{n}" for n in range(40)]
    )
    look = experiment_analyze(actor=SYSTEM, experiment=world.experiment, trigger="on_demand")

    assert promotion.promotion_evidence(world.experiment) == look
    assert "inconclusive, not winner" in refused(cast, world)  # no outcome has matured yet
