"""The per-workspace write policy: what is approved at once, what counts as a repeat.

Reading it takes a workspace-level role (any: owners, admins, reviewers, editors, auditors,
viewers) or being one of the workspace's agents; changing it takes `manage` (owners and
admins). Every change is a new immutable WritePolicyVersion (who, when, why, the policy before
and after) and an audit event, in one transaction. Restoring an earlier version is a change
like any other: a new version whose `restored_from` names the one restored.

`write_policy_preview` replays the workspace's writes of the last days (newest first, at most
PREVIEW_MAX_WRITES of them) under the policy in force and under a proposed one: how many would
have been approved at once or sent to review under each, and a sample of those that flip.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef
from django.utils import timezone

from apps.audit.services import audit_event_record
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.memories.models import (
    DEFAULT_MEMORY_TYPES,
    MemoryConflict,
    MemoryItem,
    MemoryType,
    Source,
    Tier,
    WritePolicy,
    WritePolicyVersion,
)
from apps.memories.services.common import (
    auto_approved,
    clean_score,
    masked,
    principal_of,
    write_policy_for,
)
from apps.workspaces.models import Workspace, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

RULE_KEYS = ("tier", "actor_kind", "source", "types", "min_confidence")
ACTOR_KINDS = ("agent", "user", "system")
MAX_RULES = 50
MAX_REASON_CHARS = 500
MIN_DEDUP_THRESHOLD = 0.5
PREVIEW_DAYS = 7
PREVIEW_MAX_WRITES = 5000
PREVIEW_SAMPLE = 20


# --- input checks ----------------------------------------------------------------------------


def _rule_error(index: int, message: str) -> ValidationFailed:
    text = f"Rule {index + 1}: {message}"
    return ValidationFailed(text, fields={"rules": [text]})


def _clean_condition(
    index: int, condition: Mapping[str, Any], type_keys: set[str]
) -> dict[str, Any]:
    unknown = sorted(str(key) for key in condition if key not in RULE_KEYS)
    if unknown:
        raise _rule_error(
            index, f"unknown key(s) {', '.join(unknown)}; use {', '.join(RULE_KEYS)}."
        )
    clean: dict[str, Any] = {}
    choices_of = {"tier": Tier.values, "actor_kind": list(ACTOR_KINDS), "source": Source.values}
    for key, choices in choices_of.items():
        if key not in condition:
            continue
        value = condition[key]
        if not isinstance(value, str) or value not in choices:
            raise _rule_error(index, f"{key} must be one of {', '.join(choices)} (got {value!r}).")
        clean[key] = value
    if "types" in condition:
        types = condition["types"]
        if (
            not isinstance(types, list)
            or not types
            or not all(isinstance(key, str) for key in types)
        ):
            raise _rule_error(
                index, "types must be a non-empty list of memory type keys (omit it for any type)."
            )
        missing = sorted(set(types) - type_keys)
        if missing:
            raise _rule_error(
                index, f"unknown memory type(s) {', '.join(missing)} in this workspace."
            )
        clean["types"] = sorted(set(types))
    if "min_confidence" in condition:
        try:
            clean["min_confidence"] = clean_score(condition["min_confidence"], "min_confidence")
        except ValidationFailed as exc:
            raise _rule_error(index, exc.message) from None
    return clean


def rules_clean(workspace: Workspace, rules: object) -> dict[str, Any]:
    """The rules as stored: `{"auto_approve": [condition, ...]}`, each condition of known keys
    with known values (tiers, actor kinds, sources, the workspace's memory types, a confidence
    between 0 and 1). A condition with no keys approves every write, which is allowed but has
    to be said on purpose."""
    if not isinstance(rules, Mapping) or set(rules) != {"auto_approve"}:
        raise ValidationFailed(
            'rules must look like {"auto_approve": [{"tier": "personal", ...}, ...]}.',
            fields={"rules": ['An object with one key, "auto_approve".']},
        )
    conditions = rules["auto_approve"]
    if not isinstance(conditions, list) or not all(isinstance(c, Mapping) for c in conditions):
        raise ValidationFailed(
            "rules.auto_approve must be a list of conditions (objects).",
            fields={"rules": ["auto_approve: a list of objects."]},
        )
    if len(conditions) > MAX_RULES:
        raise ValidationFailed(
            f"At most {MAX_RULES} rules.", fields={"rules": [f"At most {MAX_RULES} rules."]}
        )
    # The workspace's types, and the default vocabulary it gets on first use.
    type_keys = set(DEFAULT_MEMORY_TYPES) | set(
        MemoryType.objects.filter(workspace=workspace).values_list("key", flat=True)
    )
    return {"auto_approve": [_clean_condition(i, c, type_keys) for i, c in enumerate(conditions)]}


def dedup_threshold_clean(value: object) -> float:
    threshold = clean_score(value, "dedup_threshold")
    if threshold < MIN_DEDUP_THRESHOLD:
        raise ValidationFailed(
            f"dedup_threshold below {MIN_DEDUP_THRESHOLD} would merge unrelated memories.",
            fields={"dedup_threshold": [f"At least {MIN_DEDUP_THRESHOLD}."]},
        )
    return threshold


def _reason_clean(workspace: Workspace, reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed(
            "Say why the write policy changes: a reason is required.",
            fields={"reason": ["Required."]},
        )
    if len(reason) > MAX_REASON_CHARS or "\x00" in reason:
        raise ValidationFailed(
            f"The reason is text of at most {MAX_REASON_CHARS} characters.",
            fields={"reason": [f"At most {MAX_REASON_CHARS} characters, no NUL."]},
        )
    return masked(workspace, "reason", reason.strip())


# --- reading -----------------------------------------------------------------------------------


def snapshot(policy: WritePolicy) -> dict[str, Any]:
    return {"rules": policy.rules, "dedup_threshold": policy.dedup_threshold}


def current_version(policy: WritePolicy) -> int:
    """The number of the newest version; 0 while the policy is the default, never changed."""
    number = WritePolicyVersion.objects.filter(policy=policy).aggregate(n=Max("number"))["n"]
    return int(number or 0)


def _require_read(principal: Principal, workspace: Workspace) -> None:
    """A workspace-level role (any), an operator, a system task, or one of its agents."""
    if principal.kind == "system" or principal.is_superuser:
        return
    if principal.kind == "agent":
        if principal.required_agent.workspace_id != workspace.pk:
            raise Forbidden("Agents read their own workspace's write policy only.")
        return
    member = Workspace.objects.filter(
        pk=workspace.pk, id__in=workspace_ids_for(principal.required_user, Action.VIEW)
    )
    if not member.exists():
        raise Forbidden("Reading the write policy takes a role in the workspace.")


def write_policy_read(*, actor: Any, workspace: Workspace) -> WritePolicy:
    """The workspace's policy (created with the defaults on first use)."""
    principal = principal_of(actor)
    _require_read(principal, workspace)
    return write_policy_for(workspace)


def write_policy_versions(*, actor: Any, workspace: Workspace) -> Any:
    """Every version of the workspace's policy, newest first (people with a workspace role)."""
    principal = principal_of(actor)
    if principal.kind == "agent":
        raise Forbidden("The write policy's history is for people.")
    _require_read(principal, workspace)
    return WritePolicyVersion.objects.filter(workspace=workspace).order_by("-number")


def may_change_write_policy(actor: Any, workspace: Workspace) -> bool:
    principal = principal_of(actor)
    if principal.kind == "agent":
        return False
    return Workspace.objects.visible_to(principal, Action.MANAGE).filter(pk=workspace.pk).exists()


WRITERS = {"agent": "written by an agent", "user": "written by a person", "system": "by the system"}


def rule_text(condition: Mapping[str, Any]) -> str:
    """One condition as people read it: 'personal tier, confidence >= 0.8'; 'any write'."""
    parts = []
    if "tier" in condition:
        parts.append(f"{condition['tier']} tier")
    if "actor_kind" in condition:
        parts.append(WRITERS.get(condition["actor_kind"], str(condition["actor_kind"])))
    if "source" in condition:
        parts.append(f"source {condition['source']}")
    if "types" in condition:
        parts.append("type " + " or ".join(condition["types"]))
    if "min_confidence" in condition:
        parts.append(f"confidence >= {condition['min_confidence']:g}")
    return ", ".join(parts) or "any write"


def policy_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What changed between two policy states, one line each: rules removed ('- ...'), added
    ('+ ...') and the duplicate threshold, in that order."""
    old = [rule_text(c) for c in (before.get("rules") or {}).get("auto_approve", [])]
    new = [rule_text(c) for c in (after.get("rules") or {}).get("auto_approve", [])]
    removed = list(old)
    for line in new:
        if line in removed:
            removed.remove(line)
    added = list(new)
    for line in old:
        if line in added:
            added.remove(line)
    lines = [f"- approve at once: {line}" for line in removed]
    lines += [f"+ approve at once: {line}" for line in added]
    if before.get("dedup_threshold") != after.get("dedup_threshold"):
        lines.append(
            f"dedup_threshold {before.get('dedup_threshold')} -> {after.get('dedup_threshold')}"
        )
    return lines


# --- changing ----------------------------------------------------------------------------------


@transaction.atomic
def write_policy_update(
    *,
    actor: Any,
    workspace: Workspace,
    reason: str,
    rules: Mapping[str, Any] | None = None,
    dedup_threshold: float | None = None,
    expected_version: int | None = None,
    restored_from: int | None = None,
) -> WritePolicy:
    """Change what is approved at once and what counts as a repeat; workspace managers only.

    A change is a new version and an audit event; sending the policy in force changes nothing
    and records nothing. `expected_version` (the version the caller looked at) refuses the
    change if someone else changed the policy since."""
    principal = principal_of(actor)
    if principal.kind == "agent":
        raise Forbidden("Agents may not change the write policy.")
    require(principal, Action.MANAGE, workspace)
    policy = WritePolicy.objects.select_for_update().get(pk=write_policy_for(workspace).pk)
    number = current_version(policy)
    if expected_version is not None and expected_version != number:
        raise Conflict(
            f"The write policy changed since you looked at it (now version {number}, you saw "
            f"version {expected_version}); look again before saving."
        )
    before = snapshot(policy)
    if rules is not None:
        policy.rules = rules_clean(workspace, rules)
    if dedup_threshold is not None:
        policy.dedup_threshold = dedup_threshold_clean(dedup_threshold)
    clean_reason = _reason_clean(workspace, reason)
    after = snapshot(policy)
    if after == before:
        return policy
    policy.save(update_fields=["rules", "dedup_threshold", "updated_at"])
    version = WritePolicyVersion.objects.create(
        workspace=workspace,
        policy=policy,
        number=number + 1,
        before=before,
        after=after,
        reason=clean_reason,
        actor_kind=principal.kind,
        actor_id=principal.actor_id,
        actor_label=masked(workspace, "actor", principal.label)[:200],
        restored_from=restored_from,
    )
    audit_event_record(
        actor=principal,
        action="memory.write_policy_restore" if restored_from else "memory.write_policy_update",
        obj=policy,
        workspace_id=workspace.pk,
        before={**before, "version": number},
        after={**after, "version": version.number, "restored_from": restored_from},
        reason=reason.strip(),
    )
    return policy


def write_policy_restore(
    *,
    actor: Any,
    workspace: Workspace,
    number: int,
    reason: str,
    expected_version: int | None = None,
) -> WritePolicy:
    """Put an earlier version's policy back in force, as a new version."""
    principal = principal_of(actor)
    if principal.kind == "agent":
        raise Forbidden("Agents may not change the write policy.")
    require(principal, Action.MANAGE, workspace)
    version = version_of(workspace, number)
    if snapshot(write_policy_for(workspace)) == version.after:
        raise ValidationFailed(
            f"Version {number} is the policy in force already.",
            fields={"version": ["Already in force."]},
        )
    return write_policy_update(
        actor=principal,
        workspace=workspace,
        reason=reason,
        rules=version.after["rules"],
        dedup_threshold=version.after["dedup_threshold"],
        expected_version=expected_version,
        restored_from=version.number,
    )


def version_of(workspace: Workspace, number: object) -> WritePolicyVersion:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValidationFailed(
            "version must be a positive whole number.", fields={"version": ["A number from 1."]}
        )
    found = WritePolicyVersion.objects.filter(workspace=workspace, number=number).first()
    if found is None:
        raise NotFound(f"This workspace's write policy has no version {number}.")
    return found


# --- preview -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewWrite:
    id: int
    created_at: datetime.datetime
    tier: str
    source: str
    type: str
    actor_kind: str
    confidence: float
    conflict: bool
    before: str  # "approve" | "review"
    after: str


@dataclass
class Preview:
    days: int
    since: datetime.datetime
    writes: int = 0
    truncated: bool = False
    conflicts: int = 0  # held for review as a conflict whatever the rules say
    approved_before: int = 0
    approved_after: int = 0
    review_before: int = 0
    review_after: int = 0
    to_approve: int = 0  # sent to review under the policy in force, approved under the new one
    to_review: int = 0
    sample: list[PreviewWrite] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.to_approve + self.to_review


def _actor_kind(agent_id: int | None, user_id: int | None) -> str:
    if agent_id is not None:
        return "agent"
    if user_id is not None:
        return "user"
    return "system"


def write_policy_preview(
    *,
    actor: Any,
    workspace: Workspace,
    rules: Mapping[str, Any],
    dedup_threshold: float | None = None,
    days: int = PREVIEW_DAYS,
    now: datetime.datetime | None = None,
) -> Preview:
    """What the proposed rules would have done to the workspace's writes of the last `days`,
    against the rules in force: each memory created then, with its recorded tier, source,
    type, confidence and writer (agent, person or system), approved at once or sent to review
    under each. A write held as a conflict goes to review under any rules. At most
    PREVIEW_MAX_WRITES of the newest writes are read (one index range scan,
    memory_ws_created); `truncated` says so. The duplicate threshold is validated but not
    replayed: which writes were repeats depends on what was stored then."""
    principal = principal_of(actor)
    if principal.kind == "agent":
        raise Forbidden("Agents may not preview write-policy changes.")
    _require_read(principal, workspace)
    proposed = WritePolicy(rules=rules_clean(workspace, rules))
    if dedup_threshold is not None:
        dedup_threshold_clean(dedup_threshold)
    current = write_policy_for(workspace)
    since = (now or timezone.now()) - datetime.timedelta(days=days)
    rows = list(
        MemoryItem.objects.filter(workspace=workspace, created_at__gte=since)
        .order_by("-created_at")
        .annotate(
            type_key=F("type__key"),
            conflict=Exists(MemoryConflict.objects.filter(proposed_id=OuterRef("pk"))),
        )
        .values_list(
            "pk",
            "created_at",
            "tier",
            "source",
            "type_key",
            "confidence",
            "created_by_agent_id",
            "created_by_user_id",
            "conflict",
        )[: PREVIEW_MAX_WRITES + 1]
    )
    preview = Preview(days=days, since=since, truncated=len(rows) > PREVIEW_MAX_WRITES)
    for pk, created, tier, source, type_key, confidence, agent_id, user_id, conflict in rows[
        :PREVIEW_MAX_WRITES
    ]:
        kind = _actor_kind(agent_id, user_id)
        facts = {
            "actor_kind": kind,
            "tier": tier,
            "source": source,
            "type_key": type_key,
            "confidence": confidence,
        }
        before = "review" if conflict or not auto_approved(current, **facts) else "approve"
        after = "review" if conflict or not auto_approved(proposed, **facts) else "approve"
        preview.writes += 1
        preview.conflicts += bool(conflict)
        preview.approved_before += before == "approve"
        preview.approved_after += after == "approve"
        preview.to_approve += before == "review" and after == "approve"
        preview.to_review += before == "approve" and after == "review"
        if before != after and len(preview.sample) < PREVIEW_SAMPLE:
            preview.sample.append(
                PreviewWrite(
                    id=pk,
                    created_at=created,
                    tier=tier,
                    source=source,
                    type=type_key,
                    actor_kind=kind,
                    confidence=confidence,
                    conflict=conflict,
                    before=before,
                    after=after,
                )
            )
    preview.review_before = preview.writes - preview.approved_before
    preview.review_after = preview.writes - preview.approved_after
    return preview
