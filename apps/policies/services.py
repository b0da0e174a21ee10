"""Every change to policies, prompts and skills. Each service takes an `actor`, checks
permission, writes its change and its audit event in one transaction.

Who does what: editors (and admins, owners) create artifacts, save versions and move
unprotected labels, and ask for protected moves (a `policy_version` review request); reviewers
and admins decide those requests in the review queue and roll back; agents with the
`policies:propose` scope save versions of artifacts they can read, and never move a label.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils.text import slugify

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.policies.content import content_checked, content_hash
from apps.policies.models import (
    PRODUCTION,
    REVIEW_TIER,
    Artifact,
    ArtifactKind,
    ArtifactVersion,
    Label,
    LabelEvent,
    Level,
    PackKind,
    PolicySettings,
)
from apps.policies.promotion import promotion_refusal
from apps.privacy.engine import PIIInputError
from apps.privacy.policies import label_mask, text_mask
from apps.privacy.saved import masked_rows_saved
from apps.reviews.models import Kind, Priority, RequestStatus, ReviewRequest
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope
from apps.workspaces.services import require

ARTIFACT_FIELDS = ("workspace", "kind", "name", "pack_kind", "level", "team", "agent")
VERSION_FIELDS = ("artifact", "number", "content_hash", "message", "author_label")
MAX_MESSAGE = 2000
LABEL_MAX = 40


@dataclass(frozen=True)
class LabelMoveResult:
    """`moved`: the label points at the version now; `requested`: a review request waits."""

    outcome: str
    label: Label | None = None
    request: ReviewRequest | None = None


def principal_of(actor: Any) -> Principal:
    principal = as_principal(actor)
    if not principal.is_authenticated:
        raise Forbidden("You must be signed in (an active user or agent).")
    return principal


def is_operator(principal: Principal) -> bool:
    return principal.kind == "system" or principal.is_superuser


def policy_settings_for(workspace_id: int) -> PolicySettings:
    """Created with the defaults on first use (production protected, nothing else)."""
    found, _ = PolicySettings.objects.get_or_create(workspace_id=workspace_id)
    return found


def masked_text(workspace_id: int, text: object, field: str, limit: int = MAX_MESSAGE) -> str:
    """Changelog messages and reasons are free text people type: stored masked."""
    if not isinstance(text, str):
        raise ValidationFailed(f"{field} must be text.", fields={field: ["Not text."]})
    text = text.strip()
    if len(text) > limit:
        raise ValidationFailed(
            f"{field} has at most {limit} characters.", fields={field: ["Long."]}
        )
    if not text:
        return ""
    try:
        return text_mask(workspace_id, text).text
    except PIIInputError as exc:
        raise ValidationFailed(str(exc), fields={field: [str(exc)]}) from None


def label_checked(label: object) -> str:
    if not isinstance(label, str) or not label or slugify(label) != label or len(label) > LABEL_MAX:
        raise ValidationFailed(
            "A label is a short slug (letters, digits, - and _), e.g. production or staging.",
            fields={"label": ["Not a label."]},
        )
    return label


def _require(principal: Principal, action: str, obj: Any) -> None:
    if not is_operator(principal):
        require(principal, action, obj)


def _partition(
    workspace: Workspace, level: str, team: Team | None, agent: Agent | None
) -> tuple[Team | None, Agent | None]:
    if level not in Level.values:
        raise ValidationFailed(
            f"level is one of {', '.join(Level.values)}.", fields={"level": ["Unknown."]}
        )
    if level == Level.WORKSPACE:
        if team is not None or agent is not None:
            raise ValidationFailed("A workspace artifact names no team or agent.", fields={})
        return None, None
    if level == Level.TEAM:
        if team is None or team.workspace_id != workspace.pk or agent is not None:
            raise ValidationFailed("A team artifact names one team of the workspace.", fields={})
        return team, None
    if agent is None or agent.workspace_id != workspace.pk:
        raise ValidationFailed("An agent artifact names one agent of the workspace.", fields={})
    return agent.team, agent


def _author(workspace_id: int, principal: Principal) -> dict[str, Any]:
    return {
        "author_user": principal.user if principal.kind == "user" else None,
        "author_agent": principal.agent if principal.kind == "agent" else None,
        "author_label": label_mask(workspace_id, principal.label),
    }


@transaction.atomic
def policy_artifact_create(
    *,
    actor: Any,
    workspace: Workspace,
    kind: str,
    name: str,
    level: str = Level.WORKSPACE,
    team: Team | None = None,
    agent: Agent | None = None,
    pack_kind: str = "",
    description: str = "",
) -> Artifact:
    """Define a policy pack, prompt or skill at one level; the same kind and name at a lower
    level overrides it for the agents that level covers."""
    principal = principal_of(actor)
    if principal.kind == "agent":
        raise Forbidden("Agents propose versions; people define artifacts.")
    if kind not in ArtifactKind.values:
        raise ValidationFailed("Unknown kind.", fields={"kind": [", ".join(ArtifactKind.values)]})
    if (kind == ArtifactKind.POLICY_PACK) != bool(pack_kind) or (
        pack_kind and pack_kind not in PackKind.values
    ):
        raise ValidationFailed(
            "A policy pack has a pack_kind (brand, legal, data, channel, custom); others none.",
            fields={"pack_kind": ["Wrong for this kind."]},
        )
    if not isinstance(name, str) or not name or slugify(name) != name or len(name) > 80:
        raise ValidationFailed("name is a slug, e.g. brand-voice.", fields={"name": ["Slug."]})
    team, agent = _partition(workspace, level, team, agent)
    _require(principal, Action.EDIT, team if level == Level.TEAM and team else workspace)
    artifact = Artifact(
        workspace=workspace,
        kind=kind,
        name=name,
        level=level,
        team=team,
        agent=agent,
        pack_kind=pack_kind,
        description=masked_text(workspace.pk, description, "description"),
    )
    try:
        with transaction.atomic():
            artifact.save()
    except IntegrityError:
        raise Conflict(f"A {kind} named {name} already exists at this level.") from None
    masked_rows_saved(workspace_id=workspace.pk, rows=[artifact], fields=["description"])
    audit_event_record(
        actor=principal,
        action="policy.artifact_create",
        obj=artifact,
        workspace_id=workspace.pk,
        after=audit_snapshot(artifact, ARTIFACT_FIELDS),
    )
    return artifact


def _locked_artifact(artifact: Artifact | int) -> Artifact:
    pk = artifact.pk if isinstance(artifact, Artifact) else artifact
    try:
        return Artifact.objects.select_for_update().get(pk=pk)
    except ObjectDoesNotExist:
        raise NotFound("This artifact doesn't exist.") from None


def _require_writer(
    principal: Principal, artifact: Artifact, token_scopes: Collection[str] | None
) -> None:
    """People who edit the artifact; agents with policies:propose that can read it."""
    if principal.kind == "agent":
        if Scope.POLICIES_PROPOSE.value not in (token_scopes or ()):
            raise Forbidden(f"This token lacks the {Scope.POLICIES_PROPOSE.value} scope.")
        _require(principal, Action.VIEW, artifact)
        return
    _require(principal, Action.EDIT, artifact)


@transaction.atomic
def policy_version_create(
    *,
    actor: Any,
    artifact: Artifact | int,
    content: Any,
    message: str = "",
    token_scopes: Collection[str] | None = None,
) -> ArtifactVersion:
    """Save a new version (versions are never changed: editing is saving the next one). The
    content is checked for its kind now, so a bad rule or schema never reaches a check."""
    principal = principal_of(actor)
    artifact = _locked_artifact(artifact)
    _require_writer(principal, artifact, token_scopes)
    checked = content_checked(artifact.kind, content)
    last = artifact.versions.aggregate(n=Max("number"))["n"] or 0
    version = ArtifactVersion.objects.create(
        artifact=artifact,
        workspace_id=artifact.workspace_id,
        number=last + 1,
        content=checked,
        content_hash=content_hash(checked),
        message=masked_text(artifact.workspace_id, message, "message"),
        **_author(artifact.workspace_id, principal),
    )
    masked_rows_saved(workspace_id=artifact.workspace_id, rows=[version], fields=["message"])
    audit_event_record(
        actor=principal,
        action="policy.version_create",
        obj=version,
        workspace_id=artifact.workspace_id,
        after=audit_snapshot(version, VERSION_FIELDS),
        reason=version.message,
    )
    return version


def _version_of(artifact: Artifact, version: ArtifactVersion | int) -> ArtifactVersion:
    pk = version.pk if isinstance(version, ArtifactVersion) else version
    found = ArtifactVersion.objects.filter(pk=pk, artifact_id=artifact.pk).first()
    if found is None:
        raise ValidationFailed(
            "Unknown version of this artifact.", fields={"version": ["Not a version of it."]}
        )
    return found


def _refuse_blocked_promotion(version: ArtifactVersion) -> None:
    refusal = promotion_refusal(version)
    if refusal:
        raise Conflict(f"Production can't move to v{version.number}: {refusal}")


def move_label(
    principal: Principal,
    artifact: Artifact,
    label: str,
    version: ArtifactVersion,
    *,
    how: str,
    reason: str,
    request: ReviewRequest | None = None,
    note: dict[str, Any] | None = None,
) -> Label:
    """Point `label` at `version` with its history row and audit event (callers have checked
    permission and the review). The next bundle call sees it: bundles are read live. A move
    of production (not a rollback) first asks the registered promotion checks
    (apps.policies.promotion)."""
    if label == PRODUCTION and how != LabelEvent.How.ROLLBACK:
        _refuse_blocked_promotion(version)
    current = Label.objects.select_for_update().filter(artifact=artifact, name=label).first()
    before = {"label": label, "version": current.version_id if current else None}
    policy_settings_for(artifact.workspace_id)
    PolicySettings.objects.filter(workspace_id=artifact.workspace_id).update(
        revision=F("revision") + 1
    )
    if current is None:
        current = Label(artifact=artifact, workspace_id=artifact.workspace_id, name=label)
    previous = current.version_id if current.pk else None
    current.version = version
    current.updated_at = clock.now()
    current.save()
    history = LabelEvent.objects.create(
        artifact=artifact,
        workspace_id=artifact.workspace_id,
        label=label,
        from_version_id=previous,
        to_version=version,
        how=how,
        review_request=request,
        actor_user=principal.user if principal.kind == "user" else None,
        actor_label=label_mask(artifact.workspace_id, principal.label),
        reason=reason,
    )
    masked_rows_saved(workspace_id=artifact.workspace_id, rows=[history], fields=["reason"])
    after = {
        "label": label,
        "version": version.pk,
        "number": version.number,
        "how": how,
        "request": request.pk if request else None,
        "history": history.pk,
        **(note or {}),
    }
    audit_event_record(
        actor=principal,
        action="policy.rollback" if how == LabelEvent.How.ROLLBACK else "policy.label_move",
        obj=current,
        workspace_id=artifact.workspace_id,
        before=before,
        after=after,
        reason=reason,
    )
    return current


def _open_request(
    principal: Principal, artifact: Artifact, label: str, version: ArtifactVersion, reason: str
) -> ReviewRequest:
    waiting = ReviewRequest.objects.filter(
        kind=Kind.POLICY_VERSION,
        status=RequestStatus.PENDING,
        workspace_id=artifact.workspace_id,
        details__artifact=artifact.pk,
        details__label=label,
    )
    if waiting.exists():
        raise Conflict(
            f"A move of {artifact.name}@{label} is already waiting for review; decide it first."
        )
    current = Label.objects.filter(artifact=artifact, name=label).first()
    request = ReviewRequest.objects.create(
        workspace_id=artifact.workspace_id,
        team_id=artifact.team_id,
        kind=Kind.POLICY_VERSION,
        tier=REVIEW_TIER[Level(artifact.level)],
        subject_id=version.pk,
        priority=Priority.NORMAL,
        details={
            "title": f"{artifact.get_kind_display()} {artifact.name} v{version.number} -> {label}",
            "artifact": artifact.pk,
            "label": label,
            "version": version.pk,
            "number": version.number,
            "from_version": current.version_id if current else None,
            "note": reason,
        },
        requested_by_user=principal.user if principal.kind == "user" else None,
        requested_by_agent=principal.agent if principal.kind == "agent" else None,
    )
    audit_event_record(
        actor=principal,
        action="policy.label_move_request",
        obj=request,
        workspace_id=artifact.workspace_id,
        after={"artifact": artifact.pk, "label": label, "version": version.pk},
        reason=reason,
    )
    return request


@transaction.atomic
def policy_label_move(
    *,
    actor: Any,
    artifact: Artifact | int,
    label: str,
    version: ArtifactVersion | int,
    reason: str = "",
) -> LabelMoveResult:
    """Point a label at a version. A protected label (production, and those the workspace
    lists) is not moved here: a review request opens, and the label moves when it is approved.
    Agents never move labels."""
    principal = principal_of(actor)
    if principal.kind == "agent":
        raise Forbidden("Agents propose versions; people move labels.")
    label = label_checked(label)
    artifact = _locked_artifact(artifact)
    _require(principal, Action.EDIT, artifact)
    target = _version_of(artifact, version)
    reason = masked_text(artifact.workspace_id, reason, "reason")
    current = Label.objects.filter(artifact=artifact, name=label).first()
    if current is not None and current.version_id == target.pk:
        raise Conflict(f"{label} already points at v{target.number}; nothing was changed.")
    if policy_settings_for(artifact.workspace_id).is_protected(label):
        if label == PRODUCTION:
            _refuse_blocked_promotion(target)
        return LabelMoveResult(
            "requested", request=_open_request(principal, artifact, label, target, reason)
        )
    moved = move_label(principal, artifact, label, target, how=LabelEvent.How.SET, reason=reason)
    return LabelMoveResult("moved", label=moved)


@transaction.atomic
def policy_label_rollback(
    *,
    actor: Any,
    artifact: Artifact | int,
    label: str,
    version: ArtifactVersion | int,
    reason: str = "",
) -> Label:
    """Move a label back to a version it held before, in one action and without a new review
    (it was approved when it first got there); for reviewers and admins. The audit event says
    so. A version the label never held needs a move request instead."""
    principal = principal_of(actor)
    if principal.kind == "agent":
        raise Forbidden("Agents never move labels.")
    label = label_checked(label)
    artifact = _locked_artifact(artifact)
    _require(principal, Action.REVIEW, artifact)
    target = _version_of(artifact, version)
    held = (
        LabelEvent.objects.filter(artifact=artifact, label=label, to_version=target)
        .order_by("id")
        .first()
    )
    if held is None:
        raise Conflict(
            f"v{target.number} never held {label}; request a move instead (it needs a review)."
        )
    current = Label.objects.filter(artifact=artifact, name=label).first()
    if current is not None and current.version_id == target.pk:
        raise Conflict(f"{label} already points at v{target.number}; nothing was changed.")
    note = {
        "without_review": True,
        "approved_before": {"event": held.pk, "request": held.review_request_id, "how": held.how},
    }
    reason = masked_text(artifact.workspace_id, reason, "reason")
    return move_label(
        principal,
        artifact,
        label,
        target,
        how=LabelEvent.How.ROLLBACK,
        reason=reason or f"rolled back to v{target.number}",
        note=note,
    )


@transaction.atomic
def policy_label_remove(
    *, actor: Any, artifact: Artifact | int, label: str, reason: str = ""
) -> LabelEvent:
    """Take an unprotected label off the artifact (staging after a test, say): agents resolving
    that label fall back to the next partition's. Protected labels are moved, never removed."""
    principal = principal_of(actor)
    if principal.kind == "agent":
        raise Forbidden("Agents never move labels.")
    label = label_checked(label)
    artifact = _locked_artifact(artifact)
    _require(principal, Action.EDIT, artifact)
    if policy_settings_for(artifact.workspace_id).is_protected(label):
        raise Conflict(f"{label} is protected: move it to another version instead.")
    current = Label.objects.select_for_update().filter(artifact=artifact, name=label).first()
    if current is None:
        raise NotFound(f"This artifact has no {label} label.")
    reason = masked_text(artifact.workspace_id, reason, "reason")
    PolicySettings.objects.filter(workspace_id=artifact.workspace_id).update(
        revision=F("revision") + 1
    )
    history = LabelEvent.objects.create(
        artifact=artifact,
        workspace_id=artifact.workspace_id,
        label=label,
        from_version_id=current.version_id,
        to_version=None,
        how=LabelEvent.How.REMOVED,
        actor_user=principal.user if principal.kind == "user" else None,
        actor_label=label_mask(artifact.workspace_id, principal.label),
        reason=reason,
    )
    masked_rows_saved(workspace_id=artifact.workspace_id, rows=[history], fields=["reason"])
    audit_event_record(
        actor=principal,
        action="policy.label_remove",
        obj=current,
        workspace_id=artifact.workspace_id,
        before={"label": label, "version": current.version_id},
        after={"label": label, "version": None, "history": history.pk},
        reason=reason,
    )
    current.delete()
    return history


@transaction.atomic
def policy_settings_update(
    *, actor: Any, workspace: Workspace, protected_labels: Collection[str]
) -> PolicySettings:
    """Managers choose which labels besides production need a review to move."""
    principal = principal_of(actor)
    _require(principal, Action.MANAGE, workspace)
    settings = PolicySettings.objects.select_for_update().get(
        pk=policy_settings_for(workspace.pk).pk
    )
    before = audit_snapshot(settings, ("protected_labels",))
    settings.protected_labels = sorted({label_checked(label) for label in protected_labels})
    settings.save()
    audit_event_record(
        actor=principal,
        action="policy.settings_update",
        obj=settings,
        workspace_id=workspace.pk,
        before=before,
        after=audit_snapshot(settings, ("protected_labels",)),
    )
    return settings


@transaction.atomic
def policy_version_changelog_append(
    *, actor: Any, version: ArtifactVersion, note: str, reason: str = ""
) -> ArtifactVersion:
    """Add a paragraph to a version's changelog (release notes of the experiment that promoted
    it, say): the message is the one column the immutability trigger lets change. Like
    move_label, for callers that have checked permission (an approved review). `note` is
    masked here; the audit event keeps the message before and after."""
    principal = principal_of(actor)
    locked = ArtifactVersion.objects.select_for_update().get(pk=version.pk)
    addition = masked_text(locked.workspace_id, note, "message", limit=MAX_MESSAGE)
    before = audit_snapshot(locked, VERSION_FIELDS)
    locked.message = f"{locked.message}\n\n{addition}".strip()
    locked.save(update_fields=["message"])
    masked_rows_saved(workspace_id=locked.workspace_id, rows=[locked], fields=["message"])
    audit_event_record(
        actor=principal,
        action="policy.version_changelog",
        obj=locked,
        workspace_id=locked.workspace_id,
        before=before,
        after=audit_snapshot(locked, VERSION_FIELDS),
        reason=reason,
    )
    return locked
