"""Designing a draft (checked whole, masked, the sample size computed) and the lifecycle draft
-> running -> stopped -> decided: each step by the roles allowed, with a reason, audited;
anything else refused with nothing changed."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.experiments import services
from apps.experiments.models import ExperimentStatus
from apps.experiments.power import plan, sample_size_per_variant
from tests.api_helpers import audit_mark, audit_since
from tests.conftest import SYSTEM
from tests.experiments.conftest import design, make, state
from tests.memories.factories import MemoryItemFactory


def test_a_draft_is_masked_computed_and_audited(cast):
    mark = audit_mark()

    experiment = services.experiment_create(
        actor=cast.user("editor"),
        workspace=cast.workspace,
        **design(
            key="masked",
            hypothesis="Ask dana.fox@example.com first: shorter mails book more meetings.",
        ),
    )

    assert "dana.fox@example.com" not in experiment.hypothesis
    assert experiment.owner == cast.user("editor")
    assert experiment.status == ExperimentStatus.DRAFT
    assert experiment.sample_size_per_variant == sample_size_per_variant(baseline=0.05, mde=0.01)
    assert [v.key for v in experiment.variants.all()] == ["control", "short"]
    events = audit_since(mark)
    assert [e.action for e in events] == ["experiment.create"]
    assert events[0].after["variants"][1]["config"] == {"max_sentences": 5}


def test_variants_point_at_the_workspace_s_versions_and_memories(cast):
    memory = MemoryItemFactory(workspace=cast.workspace)
    theirs = MemoryItemFactory(workspace=cast.other_workspace)
    variants = [
        {"key": "control", "is_control": True},
        {"key": "curated", "memory_ids": [memory.pk], "memory_tag": "pricing"},
    ]

    made = make(cast.workspace, "mem", variants=variants)
    variants[1]["memory_ids"] = [theirs.pk]
    with pytest.raises(ValidationFailed):
        make(cast.workspace, "mem-two", variants=variants)

    assert made.variants.get(key="curated").memory_ids == [memory.pk]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key": "Not A Slug"}, "key"),
        ({"name": "  "}, "name"),
        ({"unit_kind": "lead"}, "unit_kind"),
        ({"variants": [{"key": "only", "is_control": True}]}, "variants"),
        ({"variants": [{"key": "a"}, {"key": "b"}]}, "variants"),
        ({"variants": [{"key": "a", "is_control": True}, {"key": "a"}]}, "variants"),
        ({"variants": [{"key": "a", "is_control": True}, {"key": "b", "weight": 0}]}, "variants"),
        ({"variants": [{"key": "a", "is_control": True}, {"key": "b", "extra": 1}]}, "variants"),
        (
            {
                "variants": [
                    {"key": "a", "is_control": True},
                    {"key": "b", "policy_versions": [9**9]},
                ]
            },
            "variants",
        ),
        ({"eligibility": {"teams": [10**9]}}, "eligibility"),
        ({"eligibility": {"regions": ["eu"]}}, "eligibility"),
        ({"eligibility": {"segments": ["dana.fox@example.com"]}}, "eligibility"),
        ({"primary_metric": {"kind": "conversion", "event": "wedding"}}, "primary_metric"),
        ({"primary_metric": {"kind": "mood", "event": "reply"}}, "primary_metric"),
        (
            {"guardrail_metrics": [{"kind": "rate", "event": "complaint", "window_days": 0}]},
            "guardrail_metrics",
        ),
        ({"baseline_rate": 1.5}, "baseline_rate"),
        ({"minimum_detectable_effect": 0}, "minimum_detectable_effect"),
        ({"baseline_rate": "0.05"}, "baseline_rate"),
        ({"exposure_cap": 0}, "exposure_cap"),
        ({"owner": 10**9}, "owner"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_design_is_refused_whole(cast, changes, field):
    with pytest.raises(ValidationFailed) as caught:
        make(cast.workspace, **{"key": "bad", **changes})

    assert field in caught.value.fields
    assert not cast.workspace.experiments.exists()


def test_a_key_is_unique_in_its_workspace_only(cast):
    make(cast.workspace, "same")
    make(cast.other_workspace, "same")

    with pytest.raises(Conflict):
        make(cast.workspace, "same")


@pytest.mark.parametrize("who", ["viewer", "reviewer", "auditor", "outsider", "team_admin"])
def test_only_editors_and_above_design(cast, who):
    with pytest.raises(Forbidden):
        services.experiment_create(
            actor=cast.user(who), workspace=cast.workspace, **design(key="x")
        )
    with pytest.raises(Forbidden):
        services.experiment_create(actor=cast.agent, workspace=cast.workspace, **design(key="y"))


def test_a_draft_changes_and_a_started_one_does_not(cast, draft):
    updated = services.experiment_update(
        actor=cast.user("editor"),
        experiment=draft,
        variants=[
            {"key": "control", "is_control": True, "weight": 3},
            {"key": "short", "weight": 1},
        ],
        minimum_detectable_effect=0.02,
    )
    assert [v.weight for v in updated.variants.all()] == [3, 1]
    weighted = plan(baseline=0.05, mde=0.02, weights={"control": 3, "short": 1}, control="control")
    assert updated.sample_size_per_variant == weighted.fixed_horizon_per_variant
    assert AuditEvent.objects.filter(action="experiment.update").count() == 1

    started = services.experiment_start(actor=cast.user("admin"), experiment=draft, reason="go")
    before = state(started)
    with pytest.raises(Conflict):
        services.experiment_update(actor=cast.user("owner"), experiment=started, exposure_cap=9)
    assert state(started) == before


def test_the_lifecycle_is_audited_with_its_reasons(cast, draft):
    mark = audit_mark()
    admin = cast.user("admin")

    services.experiment_start(actor=admin, experiment=draft, reason="Approved in the weekly")
    services.experiment_stop(actor=admin, experiment=draft, reason="Reached the sample size")
    decided = services.experiment_decide(
        actor=cast.user("owner"), experiment=draft, reason="Short wins", winner="short"
    )

    assert decided.status == ExperimentStatus.DECIDED
    assert decided.winner.key == "short"
    assert decided.started_at <= decided.stopped_at <= decided.decided_at
    events = audit_since(mark)
    assert [(e.action, e.reason) for e in events] == [
        ("experiment.start", "Approved in the weekly"),
        ("experiment.stop", "Reached the sample size"),
        ("experiment.decide", "Short wins"),
    ]
    assert events[2].after["winner"] == "short"


@pytest.mark.parametrize(
    ("status", "step"),
    [
        ("draft", services.experiment_stop),
        ("draft", services.experiment_decide),
        ("running", services.experiment_start),
        ("running", services.experiment_decide),
        ("stopped", services.experiment_start),
        ("stopped", services.experiment_stop),
    ],
)
def test_steps_out_of_order_are_conflicts(cast, status, step):
    experiment = make(cast.workspace, "order", start=status != "draft")
    if status == "stopped":
        experiment = services.experiment_stop(actor=SYSTEM, experiment=experiment, reason="x")
    before, mark = state(experiment), audit_mark()

    with pytest.raises(Conflict):
        step(actor=cast.user("owner"), experiment=experiment, reason="why not")

    assert state(experiment) == before
    assert audit_since(mark) == []


@pytest.mark.parametrize("who", ["editor", "reviewer", "viewer", "outsider"])
def test_only_admins_and_owners_start(cast, draft, who):
    before = state(draft)

    with pytest.raises(Forbidden):
        services.experiment_start(actor=cast.user(who), experiment=draft, reason="go")

    assert state(draft) == before


@pytest.mark.parametrize("reason", ["", "   ", 7, "x" * 2001])
def test_a_step_needs_a_reason(cast, draft, reason):
    with pytest.raises(ValidationFailed):
        services.experiment_start(actor=cast.user("admin"), experiment=draft, reason=reason)

    draft.refresh_from_db()
    assert draft.status == ExperimentStatus.DRAFT


def test_a_winner_is_one_of_the_variants(cast, running):
    stopped = services.experiment_stop(actor=SYSTEM, experiment=running, reason="done")

    with pytest.raises(ValidationFailed):
        services.experiment_decide(
            actor=cast.user("admin"), experiment=stopped, reason="x", winner="nope"
        )
    decided = services.experiment_decide(actor=cast.user("admin"), experiment=stopped, reason="tie")

    assert decided.winner is None
