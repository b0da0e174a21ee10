"""Retention: per-workspace rules (how many days each kind of record is kept), enforced by a
beat task that deletes in keyset batches, one short transaction and one audit event per batch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_event_record
from apps.compliance.models import RetentionRule
from apps.compliance.registry import RetentionTarget, retention_target, retention_targets
from apps.core.exceptions import ValidationFailed
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

RETENTION_ACTOR = Principal.system("retention")
MAX_KEEP_DAYS = 36_500


def _batch_size() -> int:
    return int(getattr(settings, "RETENTION_BATCH_SIZE", 1000))


def retention_rules_ensure(workspace: Workspace | int) -> None:
    """Default rules for a workspace (one per registered target), the first time they are
    needed. Not audited: the same defaults for everyone; changing one is audited."""
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    RetentionRule.objects.bulk_create(
        [
            RetentionRule(workspace_id=workspace_id, target=t.key, keep_days=t.default_days)
            for t in retention_targets()
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def retention_rule_update(
    *, actor: Any, rule: RetentionRule, keep_days: object, enabled: object = True
) -> RetentionRule:
    """Change how long a workspace keeps one kind of record. Owners and admins."""
    require(actor, Action.MANAGE, rule.workspace)
    if (
        isinstance(keep_days, bool)
        or not isinstance(keep_days, int)
        or not 1 <= keep_days <= MAX_KEEP_DAYS
    ):
        raise ValidationFailed(
            f"keep_days must be a whole number of days from 1 to {MAX_KEEP_DAYS}.",
            fields={"keep_days": ["Invalid number of days."]},
        )
    if not isinstance(enabled, bool):
        raise ValidationFailed("enabled must be true or false.", fields={"enabled": ["Invalid."]})
    locked = RetentionRule.objects.select_for_update().get(pk=rule.pk)
    before = {"keep_days": locked.keep_days, "enabled": locked.enabled}
    after = {"keep_days": keep_days, "enabled": enabled}
    if before == after:
        return locked
    locked.keep_days, locked.enabled = keep_days, enabled
    principal = as_principal(actor)
    locked.updated_by = principal.user
    locked.save(update_fields=["keep_days", "enabled", "updated_by", "updated_at"])
    audit_event_record(
        actor=actor,
        action="retention.rule_update",
        obj=locked,
        workspace_id=locked.workspace_id,
        before=before,
        after={**after, "target": locked.target},
    )
    return locked


def _prune_batch(
    target: RetentionTarget, workspace_id: int, cutoff: dt.datetime, after_id: int
) -> list[int]:
    """Delete one batch past its retention (ids above `after_id`); its ids, empty when done."""
    with transaction.atomic():
        queryset = target.expired(workspace_id, cutoff)
        ids = list(
            queryset.filter(pk__gt=after_id)
            .order_by("pk")
            .values_list("pk", flat=True)[: _batch_size()]
        )
        if not ids:
            return []
        queryset.model._base_manager.filter(pk__in=ids).delete()
        audit_event_record(
            actor=RETENTION_ACTOR,
            action="retention.prune_batch",
            object_type="compliance.retentionrule",
            object_id=target.key,
            workspace_id=workspace_id,
            after={
                "target": target.key,
                "before": cutoff.isoformat(),
                "count": len(ids),
                "ids": ids,
            },
        )
        return ids


def retention_rule_enforce(*, rule_id: int, now: dt.datetime | None = None) -> int:
    """Apply one rule; returns how many rows went. A target that can't run (the audit trail's
    pruning API missing) records why instead."""
    rule = RetentionRule.objects.get(pk=rule_id)
    target = retention_target(rule.target)
    problem = "unknown target" if target is None else target.available()
    deleted = 0
    if target is not None and not problem:
        cutoff = (now or timezone.now()) - dt.timedelta(days=rule.keep_days)
        deleted = _prune(target, rule.workspace_id, cutoff)
    RetentionRule.objects.filter(pk=rule_id).update(
        last_run_at=timezone.now(), last_deleted=deleted, last_error=problem
    )
    return deleted


def _prune(target: RetentionTarget, workspace_id: int, cutoff: dt.datetime) -> int:
    if target.prune is not None:
        return target.prune(RETENTION_ACTOR, workspace_id, cutoff)
    deleted, last = 0, 0
    while ids := _prune_batch(target, workspace_id, cutoff, last):
        deleted += len(ids)
        last = ids[-1]
    return deleted


def retention_enforce_all(*, now: dt.datetime | None = None) -> int:
    """The beat task's work: every workspace gets its default rules, then every enabled rule
    is applied. Each batch commits on its own, so a crash loses at most one batch's work."""
    for workspace_id in Workspace.objects.values_list("pk", flat=True):
        retention_rules_ensure(workspace_id)
    total = 0
    for rule_id in (
        RetentionRule.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True)
    ):
        total += retention_rule_enforce(rule_id=rule_id, now=now)
    return total


@dataclass(frozen=True)
class RetentionRow:
    rule: RetentionRule
    title: str
    eligible_now: int | None
    problem: str


def retention_report(*, actor: Any, workspace: Workspace) -> list[RetentionRow]:
    """Per rule: what is past its retention now, what the last run deleted and when. Anyone
    who may audit the workspace."""
    require(actor, Action.AUDIT, workspace)
    retention_rules_ensure(workspace)
    rows = []
    now = timezone.now()
    for rule in RetentionRule.objects.filter(workspace=workspace).order_by("target"):
        target = retention_target(rule.target)
        problem = "unknown target" if target is None else target.available()
        eligible = None
        if target is not None:
            cutoff = now - dt.timedelta(days=rule.keep_days)
            eligible = target.expired(workspace.pk, cutoff).count()
        rows.append(RetentionRow(rule, target.title if target else rule.target, eligible, problem))
    return rows
