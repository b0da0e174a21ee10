"""The contract tests' world: the shared cast (tests/conftest.py) with one object of every model
the API or the admin can address by id, on BOTH sides of the workspace boundary.

`FACTORIES` maps a model label to a function that makes (or picks) one object of that model
belonging to a side. The isolation tests read the API operations and the admin URLs and fail,
naming the model, when a model they can address has no entry here: a new app adds its models
with one line each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group
from django.db.models import Model

from apps.audit.models import AuditEvent
from apps.compliance.models import ErasureRequest, ExportJob, RetentionRule
from apps.compliance.retention import retention_rules_ensure
from apps.experiments.promotion import experiment_settings_for
from apps.guardrails import services as guardrails
from apps.memories.models import MemoryItem, Status, Tier, WritePolicyVersion
from apps.memories.services import memory_write, write_policy_for, write_policy_update
from apps.policies.services import (
    policy_artifact_create,
    policy_label_move,
    policy_settings_for,
    policy_version_create,
)
from apps.privacy.models import PiiScanJob, PrivacyPolicy
from apps.reviews.models import ReviewRequest, ReviewSettings
from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.scopes import DEFAULT_SCOPES, Scope
from apps.workspaces.services import agent_token_issue
from tests.conftest import SYSTEM, Cast
from tests.memories.factories import MemoryItemFactory
from tests.workspaces.factories import TeamFactory

WRITE_SCOPES = [
    Scope.MEMORIES_READ.value,
    Scope.MEMORIES_WRITE_PERSONAL.value,
    Scope.MEMORIES_WRITE_TEAM.value,
    Scope.MEMORIES_WRITE_WORKSPACE.value,
]
# The contract test's agent may do everything an agent can, so every write path is exercised.
AGENT_SCOPES = sorted({*DEFAULT_SCOPES, *WRITE_SCOPES, Scope.DIRECTOR.value})


@dataclass
class Side:
    """One workspace and the people, agent and token that belong to it."""

    workspace: Workspace
    team: Team
    agent: Agent
    token: AgentToken
    secret: str
    owner: Any
    objects: dict[str, Model] = field(default_factory=dict)

    def object(self, label: str) -> Model:
        if label not in self.objects:
            self.objects[label] = FACTORIES[label](self)
        return self.objects[label]


def _membership(side: Side) -> Membership:
    return Membership.objects.filter(workspace=side.workspace, user=side.owner).get()


def _memory(side: Side) -> MemoryItem:
    """An approved personal memory of the side's agent: it may be read, edited and promoted."""
    return MemoryItemFactory(
        workspace=side.workspace,
        tier=Tier.PERSONAL,
        agent=side.agent,
        status=Status.APPROVED,
        content=f"{side.workspace.name} prices its onboarding package per seat",
        tags=["pricing"],
        entities={"segment": "smb"},
    )


def _review(side: Side) -> ReviewRequest:
    """An agent's unsure proposal: a pending request in the queue, with its memory."""
    result = memory_write(
        actor=side.agent,
        workspace=side.workspace,
        content=f"{side.workspace.name} prospects reply best on Tuesday mornings",
        type="learning",
        tier=Tier.TEAM if side.agent.team_id else Tier.WORKSPACE,
        team=side.agent.team,
        confidence=0.3,
        token_scopes=WRITE_SCOPES,
    )
    return ReviewRequest.objects.get(memory=result.item, status="pending")


def _audit_event(side: Side) -> AuditEvent:
    side.object("memories.MemoryItem")
    side.object("reviews.ReviewRequest")  # written through a service: audited
    return AuditEvent.objects.filter(workspace_id=side.workspace.pk).order_by("-id").first()


def _erasure(side: Side) -> ErasureRequest:
    return ErasureRequest.objects.create(
        workspace=side.workspace, subject_label="s***@example.test", requested_by=side.owner
    )


def _export(side: Side) -> ExportJob:
    return ExportJob.objects.create(
        workspace=side.workspace, format="jsonl", requested_by=side.owner
    )


def _retention(side: Side) -> RetentionRule:
    retention_rules_ensure(side.workspace)
    return RetentionRule.objects.filter(workspace=side.workspace).order_by("id").first()


def _privacy_policy(side: Side) -> PrivacyPolicy:
    return PrivacyPolicy.objects.get_or_create(workspace=side.workspace)[0]


def _review_settings(side: Side) -> ReviewSettings:
    return ReviewSettings.objects.get_or_create(workspace=side.workspace)[0]


def _access_attempt(side: Side) -> Model:
    from axes.models import AccessAttempt

    return AccessAttempt.objects.create(
        username=side.owner.username, ip_address="192.0.2.1", failures_since_start=1
    )


def _access_log(side: Side) -> Model:
    from axes.models import AccessLog

    return AccessLog.objects.create(username=side.owner.username, ip_address="192.0.2.1")


def _artifact(side: Side) -> Model:
    return policy_artifact_create(
        actor=SYSTEM,
        workspace=side.workspace,
        kind="policy_pack",
        name=f"{side.workspace.slug}-voice",
        pack_kind="brand",
    )


def _skill(side: Side) -> Model:
    return policy_artifact_create(
        actor=SYSTEM, workspace=side.workspace, kind="skill", name=f"{side.workspace.slug}-lookup"
    )


def _prompt(side: Side) -> Model:
    return policy_artifact_create(
        actor=SYSTEM, workspace=side.workspace, kind="prompt", name=f"{side.workspace.slug}-intro"
    )


def _artifact_version(side: Side) -> Model:
    """A version on `staging` (a label history whose first move has no `from`), waiting for
    review for `production` (a review request about no memory)."""
    artifact = side.object("policies.Artifact")
    version = policy_version_create(
        actor=SYSTEM, artifact=artifact, content={"text": "Write plainly."}, message="v1"
    )
    policy_label_move(actor=SYSTEM, artifact=artifact, label="staging", version=version)
    policy_label_move(actor=SYSTEM, artifact=artifact, label="production", version=version)
    return version


def _group(side: Side) -> Group:
    return Group.objects.get_or_create(name=f"{side.workspace.slug}-reviewers")[0]


def _kill_switch(side: Side) -> Model:
    """A cleared pause of the side's team (an active one would refuse the side's agent)."""
    switch = guardrails.kill_switch_set(
        actor=SYSTEM, workspace=side.workspace, level="team", team=side.team, reason="drill"
    )
    return guardrails.kill_switch_clear(actor=SYSTEM, switch=switch, reason="drill over")


def _guardrail_check(side: Side) -> Any:
    return guardrails.guardrail_check(
        side.agent,
        guardrails.CheckRequest(action="email", channel="email", unit="lead@example.test"),
    )


def _reservation(side: Side) -> Model:
    reservation = _guardrail_check(side).reservation
    assert reservation is not None
    return reservation


def _trip(side: Side) -> Model:
    side.object("guardrails.SuppressionEntry")
    guardrails.guardrail_check(
        side.agent,
        guardrails.CheckRequest(action="email", channel="email", unit="gone@example.test"),
    )
    from apps.guardrails.models import Trip

    return Trip.objects.filter(workspace=side.workspace).order_by("-id").first()


def _circuit_breaker(side: Side) -> Model:
    from apps.guardrails.breakers import circuit_breaker_set

    return circuit_breaker_set(
        actor=SYSTEM,
        workspace=side.workspace,
        name="Failing runs",
        metric="trace_failure_rate",
        scope="agent",
        threshold=0,
        window_minutes=60,
        min_volume=1,
        action="budget",
        budget_day=5,
    )


def _breaker_trip(side: Side) -> Model:
    """A reset trip of the side's agent (an active pause would refuse the side's agent)."""
    from django.utils import timezone

    from apps.guardrails.breakers import circuit_breaker_reset, circuit_breakers_evaluate
    from apps.signals.services import traces_ingest

    side.object("guardrails.CircuitBreaker")
    item = {"agent": side.agent.pk, "task": "Follow up", "status": "failure"}
    item["started_at"] = timezone.now().isoformat()
    traces_ingest(actor=SYSTEM, workspace=side.workspace, items=[item])
    (trip,) = circuit_breakers_evaluate(workspace_id=side.workspace.pk)
    return circuit_breaker_reset(actor=SYSTEM, trip=trip, reason="drill over")


def _write_policy_version(side: Side) -> Model:
    """A changed write policy: its first version."""
    write_policy_update(
        actor=SYSTEM,
        workspace=side.workspace,
        rules={"auto_approve": [{"actor_kind": "user"}]},
        reason=f"{side.workspace.slug}: agents' notes are reviewed",
    )
    return WritePolicyVersion.objects.filter(workspace=side.workspace).order_by("-number")[0]


def _trace(side: Side) -> Model:
    from django.utils import timezone

    from apps.signals.models import Trace
    from apps.signals.services import traces_ingest

    item = {"agent": side.agent.pk, "task": "Follow up", "status": "success"}
    item["started_at"] = timezone.now().isoformat()
    result = traces_ingest(actor=SYSTEM, workspace=side.workspace, items=[item])
    return Trace.objects.get(pk=result.items[0]["id"])


def _feedback(side: Side) -> Model:
    from apps.signals.models import Feedback
    from apps.signals.services import feedback_ingest

    item = {"trace": side.object("signals.Trace").pk, "thumbs": "up"}
    result = feedback_ingest(actor=SYSTEM, workspace=side.workspace, items=[item])
    return Feedback.objects.get(pk=result.items[0]["id"])


def _outcome(side: Side) -> Model:
    from django.utils import timezone

    from apps.signals.models import Outcome
    from apps.signals.services import outcomes_ingest

    item = {
        "trace": side.object("signals.Trace").pk,
        "kind": "reply",
        "idempotency_key": f"{side.workspace.slug}-reply",
        "occurred_at": timezone.now().isoformat(),
    }
    result = outcomes_ingest(actor=SYSTEM, workspace=side.workspace, items=[item])
    return Outcome.objects.get(pk=result.items[0]["id"])


def _learning_candidate(side: Side) -> Model:
    from apps.signals.models import LearningCandidate
    from apps.signals.services import feedback_ingest

    item = {"trace": side.object("signals.Trace").pk, "explanation": "Keep it short."}
    feedback_ingest(actor=SYSTEM, workspace=side.workspace, items=[item])
    return LearningCandidate.objects.get(workspace=side.workspace)


def _learning_settings(side: Side) -> Model:
    from apps.signals.learning import learning_settings_update

    return learning_settings_update(actor=SYSTEM, workspace=side.workspace, min_traces=4)


def SHARED(side: Side) -> Model:
    """Marks a model that belongs to no workspace by design (every auditor sees that a chain
    verification ran): it has no "other workspace's" object to try."""
    raise AssertionError("a shared model has no per-workspace object")


def _experiment(side: Side) -> Model:
    """A running experiment with an exposure; its key names the side (a key is unique per
    workspace only, and the isolation test addresses experiments by key)."""
    from apps.experiments import services as experiments
    from tests.experiments.conftest import design

    experiment = experiments.experiment_create(
        actor=SYSTEM, workspace=side.workspace, **design(key=f"{side.workspace.slug}-trial")
    )
    experiment = experiments.experiment_start(actor=SYSTEM, experiment=experiment, reason="go")
    experiments.experiment_assign(actor=SYSTEM, experiment=experiment, unit_id="lead-1")
    return experiment


def _scorecard(side: Side) -> Model:
    from apps.core import clock
    from apps.scorecards.selectors import week_start_of
    from apps.scorecards.services import scorecard_snapshot

    week = week_start_of(clock.now())
    return scorecard_snapshot(actor=SYSTEM, workspace=side.workspace, team=None, week_start=week)[0]


def _dataset_version(side: Side) -> Model:
    from apps.datasets import services as datasets

    version = datasets.dataset_version_create(
        actor=SYSTEM, workspace=side.workspace, name="Edits", format="trl_dpo"
    )
    datasets.dataset_build(version_id=version.pk)
    version.refresh_from_db()
    return version


def _eval_set(side: Side) -> Model:
    from apps.evals import services as evals

    made = evals.eval_set_create(
        actor=SYSTEM, workspace=side.workspace, key=f"{side.workspace.slug}-evals", name="Evals"
    )
    cases = [{"key": "a", "input": {"task": "t"}}, {"key": "b", "input": {}, "split": "holdout"}]
    return evals.eval_cases_add(actor=SYSTEM, eval_set=made, cases=cases)


def _eval_run(side: Side) -> Model:
    from apps.evals import services as evals

    return evals.eval_run_post(
        actor=SYSTEM,
        eval_set=side.object("evals.EvalSet"),
        artifact_version=side.object("policies.ArtifactVersion"),
        results=[{"case": "a", "passed": True, "score": 1}],
    )


def _eval_settings(side: Side) -> Model:
    from apps.evals import services as evals

    return evals.eval_settings_for(side.workspace.pk)


FACTORIES: dict[str, Callable[[Side], Model]] = {
    "workspaces.Workspace": lambda side: side.workspace,
    "workspaces.Team": lambda side: side.team,
    "workspaces.Membership": _membership,
    "workspaces.Agent": lambda side: side.agent,
    "workspaces.AgentToken": lambda side: side.token,
    "auth.User": lambda side: side.owner,
    "auth.Group": _group,
    "memories.MemoryItem": _memory,
    "reviews.ReviewRequest": _review,
    "reviews.ReviewSettings": _review_settings,
    "audit.AuditEvent": _audit_event,
    "audit.AuditVerificationRun": SHARED,
    "privacy.PrivacyPolicy": _privacy_policy,
    "privacy.PiiScanJob": lambda side: PiiScanJob.objects.create(workspace=side.workspace),
    "compliance.ErasureRequest": _erasure,
    "compliance.RetentionRule": _retention,
    "compliance.ExportJob": _export,
    "policies.Artifact": lambda side: side.object("policies.PolicyPack"),
    "policies.PolicyPack": _artifact,
    "policies.Prompt": _prompt,
    "policies.Skill": _skill,
    "policies.ArtifactVersion": _artifact_version,
    "policies.PolicySettings": lambda side: policy_settings_for(side.workspace.pk),
    "guardrails.KillSwitch": _kill_switch,
    "guardrails.GuardrailLimits": lambda side: guardrails.limits_set(
        actor=SYSTEM, workspace=side.workspace, agent_budget_day=100
    ),
    "guardrails.SuppressionEntry": lambda side: guardrails.suppression_add(
        actor=SYSTEM, workspace=side.workspace, unit="gone@example.test", reason="unsubscribe"
    ),
    "guardrails.Reservation": _reservation,
    "guardrails.Trip": _trip,
    "guardrails.CircuitBreaker": _circuit_breaker,
    "guardrails.BreakerTrip": _breaker_trip,
    "axes.AccessAttempt": _access_attempt,
    "axes.AccessLog": _access_log,
    "memories.WritePolicy": lambda side: write_policy_for(side.workspace),
    "memories.WritePolicyVersion": _write_policy_version,
    "signals.Trace": _trace,
    "signals.Feedback": _feedback,
    "signals.Outcome": _outcome,
    "experiments.Experiment": _experiment,
    "experiments.ExperimentSettings": lambda side: experiment_settings_for(side.workspace.pk),
    "signals.LearningCandidate": _learning_candidate,
    "signals.LearningSettings": _learning_settings,
    "scorecards.WeeklyScorecard": _scorecard,
    "datasets.DatasetVersion": _dataset_version,
    "evals.EvalSet": _eval_set,
    "evals.EvalRun": _eval_run,
    "evals.EvalSettings": _eval_settings,
}


# Body and query fields that name another object, and the model they name.
REFERENCES = {
    "workspace": "workspaces.Workspace",
    "team": "workspaces.Team",
    "agent": "workspaces.Agent",
    "memory": "memories.MemoryItem",
    "parents": "memories.MemoryItem",
    "version": "policies.ArtifactVersion",
    "trace": "signals.Trace",
    "eval_set": "evals.EvalSet",
    "artifact_version": "policies.ArtifactVersion",
}


@dataclass
class World:
    cast: Cast
    mine: Side
    theirs: Side


def build_world(cast: Cast) -> World:
    """Our side is the cast's Acme (SDR Bot with every agent scope); theirs is Globex, with a
    team of its own and its agent's token."""
    token, secret = agent_token_issue(
        actor=SYSTEM, agent=cast.agent, name="contract", scopes=AGENT_SCOPES
    )
    other_team = TeamFactory(workspace=cast.other_workspace, name="Field", slug="field")
    cast.other_agent.team = other_team
    cast.other_agent.save(update_fields=["team"])
    other_token, other_secret = agent_token_issue(
        actor=SYSTEM, agent=cast.other_agent, name="contract", scopes=AGENT_SCOPES
    )
    mine = Side(cast.workspace, cast.sales, cast.agent, token, secret, cast.user("owner"))
    theirs = Side(
        cast.other_workspace,
        other_team,
        cast.other_agent,
        other_token,
        other_secret,
        cast.user("outsider"),
    )
    world = World(cast=cast, mine=mine, theirs=theirs)
    mine.object("policies.ArtifactVersion")  # our lists show a label history and a policy review
    return world


def model_label_of(path: str) -> str | None:
    """The model an API path with an `{id}` addresses, read off the view that serves it (its
    serializer's model); None when the view names none."""
    from django.urls import resolve

    view = resolve(re.sub(r"\{[^}]+\}", "1", path)).func
    serializer = getattr(getattr(view, "cls", None), "serializer_class", None)
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    return None if model is None else str(model._meta.label)
