"""The per-workspace write policy: what is approved at once, what counts as a repeat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core.exceptions import ValidationFailed
from apps.memories.models import WritePolicy
from apps.memories.services.common import clean_score, principal_of, write_policy_for
from apps.workspaces.models import Workspace
from apps.workspaces.roles import Action
from apps.workspaces.services import require

RULE_KEYS = frozenset({"tier", "actor_kind", "source", "types", "min_confidence"})


def _clean_rules(rules: object) -> dict[str, Any]:
    conditions = rules.get("auto_approve") if isinstance(rules, Mapping) else None
    if not isinstance(conditions, list) or not all(isinstance(c, Mapping) for c in conditions):
        raise ValidationFailed(
            'rules must look like {"auto_approve": [{"tier": "personal", ...}, ...]}.',
            fields={"rules": ["Invalid."]},
        )
    for condition in conditions:
        unknown = sorted(set(condition) - RULE_KEYS)
        if unknown:
            raise ValidationFailed(
                f"Unknown rule keys {', '.join(unknown)}; use {', '.join(sorted(RULE_KEYS))}.",
                fields={"rules": ["Unknown key."]},
            )
        if "min_confidence" in condition:
            clean_score(condition["min_confidence"], "min_confidence")
    return {"auto_approve": [dict(c) for c in conditions]}


@transaction.atomic
def write_policy_update(
    *,
    actor: Any,
    workspace: Workspace,
    rules: Mapping[str, Any] | None = None,
    dedup_threshold: float | None = None,
) -> WritePolicy:
    """Change what is approved at once and what counts as a repeat; workspace managers only."""
    principal = principal_of(actor)
    require(principal, Action.MANAGE, workspace)
    policy = WritePolicy.objects.select_for_update().get(pk=write_policy_for(workspace).pk)
    before = audit_snapshot(policy, ("rules", "dedup_threshold"))
    if rules is not None:
        policy.rules = _clean_rules(rules)
    if dedup_threshold is not None:
        threshold = clean_score(dedup_threshold, "dedup_threshold")
        if threshold < 0.5:
            raise ValidationFailed(
                "dedup_threshold below 0.5 would merge unrelated memories.",
                fields={"dedup_threshold": ["At least 0.5."]},
            )
        policy.dedup_threshold = threshold
    after = audit_snapshot(policy, ("rules", "dedup_threshold"))
    if after == before:
        return policy
    policy.save(update_fields=["rules", "dedup_threshold", "updated_at"])
    audit_event_record(
        actor=principal,
        action="memory.write_policy_update",
        obj=policy,
        workspace_id=workspace.pk,
        before=before,
        after=after,
    )
    return policy
