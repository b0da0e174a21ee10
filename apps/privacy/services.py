"""Privacy changes and the two sensitive reads (reveal, re-scan): permission check, change and
audit event in one transaction, shared by the admin, tasks and commands.

`text_mask` / `json_mask` (apps.privacy.policies) are re-exported here: every write path masks
with the workspace's cached policy through them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.core.outbox import outbox_enqueue
from apps.privacy.engine import (
    EntityType,
    MaskingPolicy,
    MaskResult,
    Operator,
    PIIConfigError,
    PIIInputError,
    PIIRevealError,
    reveal,
)
from apps.privacy.engine import (
    text_mask as engine_text_mask,
)
from apps.privacy.engine.keys import ENCRYPTED_TOKEN
from apps.privacy.keyring import masking_keys
from apps.privacy.models import (
    ACTIVE_STATUSES,
    REVEAL_PERMISSION,
    PiiScanJob,
    PrivacyPolicy,
    PrivacyPolicyGroupObjectPermission,
    PrivacyPolicyUserObjectPermission,
    ScanStatus,
    masking_policy_from,
)
from apps.privacy.policies import forget_policy, json_mask, text_mask
from apps.workspaces.models import Membership, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

__all__ = [
    "json_mask",
    "pii_rescan_start",
    "pii_reveal",
    "pii_reveal_grant",
    "pii_reveal_revoke",
    "policy_for_workspace",
    "privacy_policy_preview",
    "privacy_policy_update",
    "text_mask",
]

POLICY_FIELDS = (
    "entities",
    "operators",
    "default_operator",
    "allow_values",
    "allow_patterns",
    "phone_regions",
)
PREVIEW_MAX_CHARS = 20_000
REASON_MAX_CHARS = 500


def policy_for_workspace(workspace: Workspace) -> PrivacyPolicy:
    """The workspace's policy row, created with the defaults the first time it is asked for
    (the defaults are what masking already used, so creating it changes nothing)."""
    policy, _ = PrivacyPolicy.objects.get_or_create(workspace=workspace)
    return policy


def ensure_policies(workspace_ids: Any) -> None:
    """Default rows for every workspace in `workspace_ids` that has none (admin changelist)."""
    existing = set(
        PrivacyPolicy.objects.filter(workspace_id__in=workspace_ids).values_list(
            "workspace_id", flat=True
        )
    )
    missing = [PrivacyPolicy(workspace_id=ws) for ws in workspace_ids if ws not in existing]
    if missing:
        PrivacyPolicy.objects.bulk_create(missing, ignore_conflicts=True)


def build_policy(**rules: Any) -> MaskingPolicy:
    """Validate submitted rules by building the engine's policy; a clear error otherwise."""
    try:
        return masking_policy_from(**rules)
    except (PIIConfigError, ValueError) as exc:
        raise ValidationFailed(f"This policy can't be used: {exc}") from None


def _normalised(rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "entities": sorted({str(EntityType(e)) for e in rules["entities"]}),
        "operators": {str(EntityType(k)): str(Operator(v)) for k, v in rules["operators"].items()},
        "default_operator": str(Operator(rules["default_operator"])),
        "allow_values": [v.strip() for v in rules["allow_values"] if v.strip()],
        "allow_patterns": [p for p in rules["allow_patterns"] if p.strip()],
        "phone_regions": [r.strip().upper() for r in rules["phone_regions"] if r.strip()],
    }


@transaction.atomic
def privacy_policy_update(*, actor: Any, workspace: Workspace, **rules: Any) -> PrivacyPolicy:
    """Change what the workspace masks. Affects new writes at once; stored text is brought in
    line by a re-scan (pii_rescan_start). Unchanged rules write nothing."""
    unknown = set(rules) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown policy fields: {', '.join(sorted(unknown))}.")
    require(actor, Action.MANAGE, workspace)
    policy = PrivacyPolicy.objects.select_for_update().get(pk=policy_for_workspace(workspace).pk)
    before = audit_snapshot(policy, POLICY_FIELDS)
    try:
        wanted = _normalised({**before, **rules})
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise ValidationFailed(f"This policy can't be used: {exc}") from None
    build_policy(**wanted)
    if wanted == before:
        return policy
    for field, value in wanted.items():
        setattr(policy, field, value)
    principal = as_principal(actor)
    policy.updated_by = principal.user if principal.kind == "user" else None
    policy.save(update_fields=[*POLICY_FIELDS, "updated_by", "updated_at"])
    forget_policy(workspace.pk)
    transaction.on_commit(lambda: forget_policy(workspace.pk))
    audit_event_record(
        actor=actor,
        action="privacy_policy.update",
        obj=policy,
        workspace_id=workspace.pk,
        before=before,
        after=audit_snapshot(policy, POLICY_FIELDS),
    )
    return policy


def privacy_policy_preview(*, policy: MaskingPolicy, text: str) -> MaskResult:
    """What `policy` (possibly unsaved) would make of `text`; nothing is stored or logged."""
    if isinstance(text, str) and len(text) > PREVIEW_MAX_CHARS:
        raise PIIInputError(f"preview text is over {PREVIEW_MAX_CHARS} characters")
    return engine_text_mask(text, policy, masking_keys())


# --- reveal -----------------------------------------------------------------------------------


def _holds_reveal(user: User, policy: PrivacyPolicy) -> bool:
    direct = PrivacyPolicyUserObjectPermission.objects.filter(
        user=user, content_object=policy, permission__codename=REVEAL_PERMISSION
    )
    via_group = PrivacyPolicyGroupObjectPermission.objects.filter(
        group__user=user, content_object=policy, permission__codename=REVEAL_PERMISSION
    )
    return bool(direct.exists() or via_group.exists())


def may_reveal(actor: Any, workspace: Workspace) -> bool:
    """Operators, and people who hold reveal_pii on this workspace's policy and still see the
    workspace. Agents and system tasks never read plaintext."""
    principal = as_principal(actor)
    if principal.kind != "user" or not principal.is_authenticated:
        return False
    if principal.is_superuser:
        return True
    if not Workspace.objects.visible_to(actor, Action.VIEW).filter(pk=workspace.pk).exists():
        return False
    policy = PrivacyPolicy.objects.filter(workspace=workspace).first()
    return policy is not None and _holds_reveal(principal.required_user, policy)


def workspaces_revealable_by(user: Any) -> list[Workspace]:
    """Where `user` may reveal (the reveal page's choices)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    visible = Workspace.objects.visible_to(user, Action.VIEW)
    if user.is_superuser:
        return list(visible)
    granted = PrivacyPolicyUserObjectPermission.objects.filter(
        user=user, permission__codename=REVEAL_PERMISSION
    ).values("content_object__workspace_id")
    by_group = PrivacyPolicyGroupObjectPermission.objects.filter(
        group__user=user, permission__codename=REVEAL_PERMISSION
    ).values("content_object__workspace_id")
    return list(visible.filter(pk__in=granted) | visible.filter(pk__in=by_group))


@transaction.atomic
def pii_reveal(*, actor: Any, workspace: Workspace, text: str, reason: str) -> str:
    """Decrypt every <ENC:...> token in `text`. Needs reveal_pii on the workspace's policy and a
    reason; the audit event records who, why and how many values, never the plaintext."""
    if not may_reveal(actor, workspace):
        raise Forbidden("You may not reveal personal data in this workspace.")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationFailed(
            "Say why you need to see this data.", fields={"reason": ["A reason is required."]}
        )
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            f"Keep the reason under {REASON_MAX_CHARS} characters.",
            fields={"reason": ["Too long."]},
        )
    try:
        count = len(ENCRYPTED_TOKEN.findall(text)) if isinstance(text, str) else 0
        plain = reveal(text, masking_keys())
    except PIIRevealError as exc:
        raise ValidationFailed(str(exc), fields={"text": [str(exc)]}) from None
    policy = policy_for_workspace(workspace)
    audit_event_record(
        actor=actor,
        action="pii.reveal",
        obj=policy,
        workspace_id=workspace.pk,
        after={"values_revealed": count, "characters": len(text)},
        reason=reason,
    )
    return plain


def _grant_target(actor: Any, workspace: Workspace, user: User) -> PrivacyPolicy:
    require(actor, Action.MANAGE_OWNERS, workspace)
    if not Membership.objects.filter(user=user, workspace=workspace).exists():
        raise ValidationFailed(
            "Only members of this workspace can be allowed to reveal its data.",
            fields={"user": ["Not a member of this workspace."]},
        )
    return policy_for_workspace(workspace)


@transaction.atomic
def pii_reveal_grant(*, actor: Any, workspace: Workspace, user: User, reason: str = "") -> bool:
    """Let a member see plaintext of this workspace's encrypted values. Owners only (and
    operators). Returns False, writing nothing, when the member already holds it."""
    policy = _grant_target(actor, workspace, user)
    if _holds_direct(user, policy):
        return False
    assign_perm(REVEAL_PERMISSION, user, policy)
    audit_event_record(
        actor=actor,
        action="pii.reveal_grant",
        obj=policy,
        workspace_id=workspace.pk,
        after={"user": user.pk, "permission": REVEAL_PERMISSION},
        reason=reason,
    )
    return True


@transaction.atomic
def pii_reveal_revoke(*, actor: Any, workspace: Workspace, user: User, reason: str = "") -> bool:
    """Take the reveal right away; idempotent like the grant."""
    require(actor, Action.MANAGE_OWNERS, workspace)
    policy = policy_for_workspace(workspace)
    if not _holds_direct(user, policy):
        return False
    remove_perm(REVEAL_PERMISSION, user, policy)
    audit_event_record(
        actor=actor,
        action="pii.reveal_revoke",
        obj=policy,
        workspace_id=workspace.pk,
        before={"user": user.pk, "permission": REVEAL_PERMISSION},
        reason=reason,
    )
    return True


def _holds_direct(user: User, policy: PrivacyPolicy) -> bool:
    return bool(
        PrivacyPolicyUserObjectPermission.objects.filter(
            user=user, content_object=policy, permission__codename=REVEAL_PERMISSION
        ).exists()
    )


# --- re-scan ----------------------------------------------------------------------------------


@transaction.atomic
def pii_rescan_start(*, actor: Any, workspace: Workspace) -> tuple[PiiScanJob, bool]:
    """Queue a re-scan of the workspace's stored text with its current policy.

    Returns (job, created). One job per workspace is active at a time: asking again while one
    is queued or running returns that one and writes nothing.
    """
    require(actor, Action.MANAGE, workspace)
    active = PiiScanJob.objects.filter(workspace=workspace, status__in=ACTIVE_STATUSES).first()
    if active is not None:
        return active, False
    principal = as_principal(actor)
    job = PiiScanJob(
        workspace=workspace, created_by=principal.user if principal.kind == "user" else None
    )
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:  # a concurrent request queued one first
        return PiiScanJob.objects.get(workspace=workspace, status__in=ACTIVE_STATUSES), False
    audit_event_record(
        actor=actor,
        action="pii.rescan_start",
        obj=job,
        workspace_id=workspace.pk,
        after={"job": job.pk, "status": job.status},
    )
    outbox_enqueue("privacy.rescan", args=[job.pk])
    return job, True


def pii_scan_job_claim(job_id: int, *, stale_after_seconds: int = 600) -> bool:
    """Idempotent claim: a queued job, or a running one whose worker went silent (acks_late
    redelivers the message after a lost worker, and the job resumes from its cursor)."""
    now = timezone.now()
    if PiiScanJob.objects.filter(id=job_id, status=ScanStatus.QUEUED).update(
        status=ScanStatus.RUNNING, started_at=now, updated_at=now
    ):
        return True
    stale = now - dt.timedelta(seconds=stale_after_seconds)
    return bool(
        PiiScanJob.objects.filter(
            id=job_id, status=ScanStatus.RUNNING, updated_at__lt=stale
        ).update(updated_at=now)
    )
