"""The promotion gate, its approval, and the approval of starts.

Promoting (`experiment_promote`) is asking to make the winner of an experiment the way things
are done: it is possible only when the experiment's latest look (an ExperimentAnalysis row,
read through `promotion_evidence`) says `winner` with the sample-ratio check and every
guardrail passing, and that look is not older than the experiment's last change of status.
It opens an `experiment_result` review request with the evidence frozen in its details;
nothing else changes until someone other than the requester approves it
(apps.experiments.reviewing), which:

- points the production label of each of the winner's policy, prompt or skill versions at
  that version (apps.policies.services.move_label, as an approved review: rollback to the
  version that held production before stays one click, without a review);
- approves the winner's proposed memories (its tag and explicit ids) with memory_approve;
- retires every other variant, the control included: `retired_at` is set, and their proposed
  memories that are not also the winner's are rejected with memory_reject. Approved memories
  and policy versions of losing variants are left as they are (the control's are what agents
  read today; only the production label moved away from them);
- decides the experiment with the winner (a running experiment is stopped and decided at
  once: units are assigned until the approval, and the approval re-reads the latest look, which
  must still name the same winner with SRM and guardrails passing);
- writes release notes on the experiment and appends them to each promoted version's changelog.

Rejecting closes the request and changes nothing else. Every step writes its audit event.

Starting: where the workspace's ExperimentSettings say `start_needs_approval`,
services.experiment_start opens an `experiment_start` request instead (the experiment stays a
draft); approving it starts the experiment, rejecting leaves the draft.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import transaction

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.experiments import design
from apps.experiments.models import (
    Experiment,
    ExperimentAnalysis,
    ExperimentSettings,
    ExperimentStatus,
)
from apps.experiments.services import _locked, _people_only, _principal, _reason
from apps.privacy.policies import label_mask
from apps.reviews.models import Kind, Priority, RequestStatus, ReviewRequest
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

PROMOTABLE = (ExperimentStatus.RUNNING, ExperimentStatus.STOPPED)
WINNER = "winner"


def statuses(source: str | tuple[str, ...]) -> tuple[str, ...]:
    """The admin's lifecycle steps name one status or several (promote: running or stopped)."""
    return (source,) if isinstance(source, str) else source


def step_message(key: str, step: str, result: object) -> str:
    """What the admin says after a lifecycle step: done, or a review request waits."""
    if isinstance(result, ReviewRequest):
        return f"{key}: review request #{result.pk} opened; another person approves it."
    if isinstance(result, Experiment) and step == "start" and result.status == "draft":
        waiting = pending_request(result, Kind.EXPERIMENT_START)
        if waiting is not None:
            return f"{key}: starting needs approval; review request #{waiting.pk} opened."
    return f"{key}: {step} recorded."


# --- settings ---------------------------------------------------------------------------------


def experiment_settings_for(workspace_id: int) -> ExperimentSettings:
    """Created with the defaults (no approval) on first use; not audited, changing them is."""
    found, _ = ExperimentSettings.objects.get_or_create(workspace_id=workspace_id)
    return found


@transaction.atomic
def experiment_settings_update(
    *, actor: Any, workspace: Workspace, start_needs_approval: object
) -> ExperimentSettings:
    """Owners and admins decide whether starting an experiment needs a second person."""
    principal = _principal(actor)
    _people_only(principal, "change experiment settings")
    require(principal, Action.MANAGE, workspace)
    if not isinstance(start_needs_approval, bool):
        raise ValidationFailed(
            "start_needs_approval is true or false.",
            fields={"start_needs_approval": ["Not a boolean."]},
        )
    settings = ExperimentSettings.objects.select_for_update().get(
        pk=experiment_settings_for(workspace.pk).pk
    )
    before = audit_snapshot(settings, ("start_needs_approval",))
    settings.start_needs_approval = start_needs_approval
    settings.save()
    audit_event_record(
        actor=principal,
        action="experiment.settings_update",
        obj=settings,
        workspace_id=workspace.pk,
        before=before,
        after=audit_snapshot(settings, ("start_needs_approval",)),
    )
    return settings


# --- start approval ---------------------------------------------------------------------------


def start_needs_approval(experiment: Experiment) -> bool:
    """Read without creating the row (a refused caller leaves no trace); no row: no approval."""
    return ExperimentSettings.objects.filter(
        workspace_id=experiment.workspace_id, start_needs_approval=True
    ).exists()


def design_fingerprint(experiment: Experiment) -> str:
    """What the approver approves: a change of the draft's design after the request makes the
    approval refuse (the request is about the design it showed)."""
    data = json.dumps(design.current(experiment), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def pending_request(experiment: Experiment, kind: str) -> ReviewRequest | None:
    return (
        ReviewRequest.objects.filter(
            kind=kind,
            subject_id=experiment.pk,
            workspace_id=experiment.workspace_id,
            status=RequestStatus.PENDING,
        )
        .order_by("id")
        .first()
    )


def _requester(principal: Principal) -> dict[str, Any]:
    return {"requested_by_user": principal.user if principal.kind == "user" else None}


def start_request_open(*, actor: Any, experiment: Experiment, reason: object) -> ReviewRequest:
    """experiment_start's answer where the workspace requires approval: a waiting request (one
    per experiment), the experiment still a draft. Same permission as starting."""
    principal = _principal(actor)
    _people_only(principal, "start, stop or decide experiments")
    require(principal, Action.MANAGE, experiment)
    locked = _locked(experiment)
    if locked.status != ExperimentStatus.DRAFT:
        raise Conflict(
            f"This experiment is {locked.get_status_display().lower()}: it can't be running "
            "from there."
        )
    clean_reason = _reason(locked.workspace_id, reason, required=True)
    if pending_request(locked, Kind.EXPERIMENT_START) is not None:
        raise Conflict("A start of this experiment is already waiting for approval.")
    request = ReviewRequest.objects.create(
        workspace_id=locked.workspace_id,
        kind=Kind.EXPERIMENT_START,
        tier="workspace",
        subject_id=locked.pk,
        priority=Priority.NORMAL,
        details={
            "title": f"Start experiment {locked.key}",
            "experiment": locked.pk,
            "key": locked.key,
            "note": clean_reason,
            "design": design_fingerprint(locked),
            "sample_size_per_variant": locked.sample_size_per_variant,
        },
        **_requester(principal),
    )
    audit_event_record(
        actor=principal,
        action="experiment.start_request",
        obj=locked,
        workspace_id=locked.workspace_id,
        after={"request": request.pk, "status": locked.status},
        reason=clean_reason,
    )
    return request


def require_someone_else(principal: Principal, request: ReviewRequest) -> None:
    """Four eyes, always for experiments (whatever the workspace's four-eyes tiers): the
    person who asked does not approve."""
    me = principal.user.pk if principal.kind == "user" and principal.user is not None else None
    if me is not None and me == request.requested_by_user_id:
        raise Forbidden(
            "Four eyes: you asked for this, so another person must approve it. Nothing was changed."
        )


def start_approved(principal: Principal, request: ReviewRequest, reason: str) -> Experiment:
    """Draft -> running on approval, as the approver; the audit event names the request."""
    locked = _locked(int(request.subject_id or 0))
    if locked.status != ExperimentStatus.DRAFT:
        raise Conflict(
            f"This experiment is {locked.get_status_display().lower()} already: reject the "
            "request instead."
        )
    if design_fingerprint(locked) != request.details.get("design"):
        raise Conflict(
            "The design changed after this start was requested: reject the request and ask again."
        )
    locked.status = ExperimentStatus.RUNNING
    locked.started_at = clock.now()
    locked.save(update_fields=["status", "started_at", "updated_at"])
    audit_event_record(
        actor=principal,
        action="experiment.start",
        obj=locked,
        workspace_id=locked.workspace_id,
        before={"status": ExperimentStatus.DRAFT.value},
        after={
            "status": locked.status,
            "exposures": locked.exposure_count,
            "request": request.pk,
            "requested_by": request.requested_by_user_id,
        },
        reason=reason or str(request.details.get("note", "")),
    )
    return locked


# --- the gate ---------------------------------------------------------------------------------


def promotion_evidence(experiment: Experiment) -> ExperimentAnalysis | None:
    """The look the gate reads: the experiment's latest stored analysis. The one place that
    knows where evidence comes from."""
    from apps.experiments.analysis import latest_analysis

    return latest_analysis(experiment)


def analysis_of(look: ExperimentAnalysis) -> dict[str, Any]:
    """Analysis.as_dict() out of the stored result (also when kept under "analysis" beside
    its inputs)."""
    result = look.result if isinstance(look.result, dict) else {}
    inner = result.get("analysis")
    return inner if isinstance(inner, dict) and "decision" not in result else result


def _last_status_change(experiment: Experiment) -> Any:
    if experiment.status == ExperimentStatus.STOPPED:
        return experiment.stopped_at
    return experiment.started_at


def gate_refusals(experiment: Experiment, look: ExperimentAnalysis | None) -> list[str]:
    """Why this experiment can't be promoted on this look (empty: it can)."""
    if experiment.status not in PROMOTABLE:
        return [
            f"the experiment is {experiment.get_status_display().lower()}: only a running or "
            "stopped experiment is promoted"
        ]
    if look is None:
        return ["no look yet: analyse the experiment first"]
    refusals: list[str] = []
    changed = _last_status_change(experiment)
    if changed is not None and look.computed_at < changed:
        refusals.append(
            f"the latest look ({look.computed_at:%Y-%m-%d %H:%M} UTC) is older than the "
            f"experiment's last change of status ({changed:%Y-%m-%d %H:%M} UTC): analyse again"
        )
    if not look.srm_passed:
        refusals.append("the sample-ratio check fails (SRM): the split is not what was configured")
    if not look.guardrails_passed:
        refusals.append("a guardrail metric is harmed")
    if look.outcome != WINNER:
        refusals.append(f"the decision rule says {look.outcome.replace('_', ' ')}, not winner")
    elif not look.winner_key:
        refusals.append("the look names no winning variant")
    return refusals


def _refuse(refusals: list[str]) -> None:
    if refusals:
        raise Conflict(
            "Promotion refused: " + "; ".join(refusals) + ". Nothing was changed.",
            fields={"evidence": refusals},
        )


def _evidence(look: ExperimentAnalysis) -> dict[str, Any]:
    return {
        "analysis": look.pk,
        "computed_at": look.computed_at.isoformat(),
        "trigger": look.trigger,
        "exposures": look.exposures,
        "outcome": look.outcome,
        "winner": look.winner_key,
        "srm_passed": look.srm_passed,
        "guardrails_passed": look.guardrails_passed,
        "result": analysis_of(look),
    }


@transaction.atomic
def experiment_promote(*, actor: Any, experiment: Experiment, reason: object) -> ReviewRequest:
    """Ask to promote the winner: refused (409, naming what is missing) unless the latest look
    says winner with SRM and guardrails passing; otherwise an `experiment_result` request opens
    with the evidence frozen. Admins and owners, as deciding; a running experiment keeps
    running until the approval."""
    principal = _principal(actor)
    _people_only(principal, "promote experiments")
    require(principal, Action.MANAGE, experiment)
    locked = _locked(experiment)
    clean_reason = _reason(locked.workspace_id, reason, required=True)
    look = _passing_look(locked)
    winner = locked.variants.filter(key=look.winner_key).first()
    if winner is None or winner.is_control:
        _refuse([f"the look's winner {look.winner_key!r} is not a treatment of this experiment"])
    if pending_request(locked, Kind.EXPERIMENT_RESULT) is not None:
        raise Conflict("A promotion of this experiment is already waiting for review.")
    request = ReviewRequest.objects.create(
        workspace_id=locked.workspace_id,
        kind=Kind.EXPERIMENT_RESULT,
        tier="workspace",
        subject_id=locked.pk,
        priority=Priority.HIGH,
        details={
            "title": f"Promote {look.winner_key} of experiment {locked.key}",
            "experiment": locked.pk,
            "key": locked.key,
            "winner": look.winner_key,
            "status": locked.status,
            "note": clean_reason,
            "evidence": _evidence(look),
        },
        **_requester(principal),
    )
    audit_event_record(
        actor=principal,
        action="experiment.promote_request",
        obj=locked,
        workspace_id=locked.workspace_id,
        after={"request": request.pk, "winner": look.winner_key, "analysis": look.pk},
        reason=clean_reason,
    )
    return request


def _passing_look(
    experiment: Experiment, prefix: str = "Promotion refused: "
) -> ExperimentAnalysis:
    """The latest look if it passes the gate, else a 409 naming everything missing."""
    look = promotion_evidence(experiment)
    refusals = gate_refusals(experiment, look)
    if refusals or look is None:
        raise Conflict(
            prefix + "; ".join(refusals) + ". Nothing was changed.",
            fields={"evidence": refusals},
        )
    return look


def recheck(experiment: Experiment, request: ReviewRequest) -> ExperimentAnalysis:
    """At approval: the latest look must still pass the gate and name the same winner."""
    prefix = "The evidence no longer holds (reject this request; promote again later): "
    look = _passing_look(experiment, prefix)
    if look.winner_key != request.details.get("winner"):
        _refuse([f"the latest look names {look.winner_key}, not the requested winner"])
    return look


def decider_label(workspace_id: int, principal: Principal) -> str:
    return label_mask(workspace_id, principal.label)


# --- approval: what promoting does ------------------------------------------------------------


def _memories_of(experiment: Experiment, variant: Any) -> Any:
    from django.db.models import Q

    from apps.memories.models import MemoryItem

    wanted = Q(pk__in=[int(pk) for pk in variant.memory_ids or []])
    if variant.memory_tag:
        wanted |= Q(tags__contains=[variant.memory_tag])
    return MemoryItem.objects.filter(
        wanted, workspace_id=experiment.workspace_id, deleted_at__isnull=True
    )


def _promote_versions(
    principal: Principal, experiment: Experiment, winner: Any, request: ReviewRequest, note: str
) -> list[dict[str, Any]]:
    from apps.policies.models import PRODUCTION, Artifact, ArtifactVersion, Label, LabelEvent
    from apps.policies.services import move_label

    moved = []
    versions = ArtifactVersion.objects.filter(
        pk__in=[int(pk) for pk in winner.policy_versions or []],
        workspace_id=experiment.workspace_id,
    ).order_by("id")
    for version in versions:
        artifact = Artifact.objects.select_for_update().get(pk=version.artifact_id)
        current = Label.objects.filter(artifact=artifact, name=PRODUCTION).first()
        if current is not None and current.version_id == version.pk:
            continue  # already in production: nothing to move
        move_label(
            principal,
            artifact,
            PRODUCTION,
            version,
            how=LabelEvent.How.APPROVED,
            reason=note,
            request=request,
            note={"experiment": experiment.pk},
        )
        moved.append(
            {
                "version": version.pk,
                "artifact": artifact.name,
                "number": version.number,
                "from_version": current.version_id if current else None,
            }
        )
    return moved


def _approve_memories(
    principal: Principal, experiment: Experiment, winner: Any, note: str
) -> list[int]:
    from apps.memories.models import Status
    from apps.memories.services import memory_approve

    approved = []
    for item in _memories_of(experiment, winner).filter(status=Status.PROPOSED).order_by("id"):
        memory_approve(actor=principal, item=item, reason=note)
        approved.append(item.pk)
    return approved


def _retire_losers(
    principal: Principal, experiment: Experiment, winner: Any, note: str
) -> tuple[list[str], list[int]]:
    from apps.memories.models import Status
    from apps.memories.services import memory_reject

    losers = list(experiment.variants.exclude(pk=winner.pk).order_by("id"))
    keep = set(_memories_of(experiment, winner).values_list("pk", flat=True))
    rejected: list[int] = []
    for loser in losers:
        pending = _memories_of(experiment, loser).filter(status=Status.PROPOSED).order_by("id")
        for item in pending.exclude(pk__in=keep).exclude(pk__in=rejected):
            memory_reject(actor=principal, item=item, reason=note)
            rejected.append(item.pk)
    now = clock.now()
    experiment.variants.filter(pk__in=[v.pk for v in losers]).update(retired_at=now)
    return [v.key for v in losers], rejected


def _percent(value: Any) -> str:
    return f"{value:+.2%}" if isinstance(value, int | float) else "n/a"


def _lift_line(evidence: dict[str, Any]) -> str:
    result = evidence.get("result") or {}
    for comparison in result.get("comparisons") or []:
        if comparison.get("variant") != evidence.get("winner"):
            continue
        fixed = comparison.get("fixed") or {}
        sequential = (comparison.get("sequential") or {}).get("interval") or {}
        return (
            f"{comparison.get('metric')}: {_percent(fixed.get('difference'))} absolute against "
            f"{comparison.get('control')}, always-valid interval "
            f"[{_percent(sequential.get('low'))}, {_percent(sequential.get('high'))}]"
        )
    return "no comparison recorded"


def release_notes(
    experiment: Experiment,
    request: ReviewRequest,
    changes: dict[str, Any],
    approver: str,
    reason: str,
) -> str:
    """What changed, the evidence and who approved, as people read it (parts already masked)."""
    evidence = request.details.get("evidence") or {}
    moved = "; ".join(
        f"{m['artifact']} v{m['number']} now holds production" for m in changes["versions"]
    )
    lines = [
        f"Experiment {experiment.key}: {request.details.get('winner')} promoted "
        f"(review #{request.pk}).",
        "What changed: "
        + (moved or "no policy version moved")
        + f"; memories approved: {changes['memories_approved'] or 'none'}"
        + f"; retired variants: {', '.join(changes['retired']) or 'none'}"
        + f"; losing memories rejected: {changes['memories_rejected'] or 'none'}.",
        f"Evidence: look #{evidence.get('analysis')} at {evidence.get('computed_at')} over "
        f"{evidence.get('exposures')} exposures; {_lift_line(evidence)}; sample-ratio check "
        "and guardrails passed.",
        f"Requested by {request.requested_by_label()}: {request.details.get('note', '')}",
        f"Approved by {approver} at {clock.now():%Y-%m-%d %H:%M} UTC"
        + (f": {reason}" if reason else "."),
    ]
    return "\n".join(lines)


def promotion_apply(principal: Principal, request: ReviewRequest, reason: str) -> Experiment:
    """The approved promotion (see the module docstring); runs in the queue's transaction."""
    from apps.policies.models import ArtifactVersion
    from apps.policies.services import policy_version_changelog_append
    from apps.privacy.saved import masked_rows_saved

    locked = _locked(int(request.subject_id or 0))
    look = recheck(locked, request)
    winner = locked.variants.get(key=look.winner_key)
    note = reason or f"experiment {locked.key}: {winner.key} promoted in review #{request.pk}"
    before = {"status": locked.status, "winner": None}
    versions = _promote_versions(principal, locked, winner, request, note)
    changes: dict[str, Any] = {"versions": versions}
    changes["memories_approved"] = _approve_memories(principal, locked, winner, note)
    changes["retired"], changes["memories_rejected"] = _retire_losers(
        principal, locked, winner, note
    )
    approver = decider_label(locked.workspace_id, principal)
    notes = release_notes(locked, request, changes, approver, reason)
    now = clock.now()
    if locked.status == ExperimentStatus.RUNNING:
        locked.stopped_at = now
    locked.status = ExperimentStatus.DECIDED
    locked.winner = winner
    locked.decided_at = now
    locked.release_notes = notes
    locked.save(
        update_fields=[
            "status",
            "winner",
            "stopped_at",
            "decided_at",
            "release_notes",
            "updated_at",
        ]
    )
    masked_rows_saved(workspace_id=locked.workspace_id, rows=[locked], fields=["release_notes"])
    for moved in changes["versions"]:
        version = ArtifactVersion.objects.get(pk=moved["version"])
        policy_version_changelog_append(
            actor=principal, version=version, note=notes[:2000], reason=note
        )
    audit_event_record(
        actor=principal,
        action="experiment.promote",
        obj=locked,
        workspace_id=locked.workspace_id,
        before=before,
        after={
            "status": locked.status,
            "winner": winner.key,
            "request": request.pk,
            "analysis": look.pk,
            "exposures": locked.exposure_count,
            **changes,
        },
        reason=note,
    )
    return locked
