"""Verify now: a chain verification asked for from the admin, run by a worker with progress.

The request (`audit_verification_request`) creates a queued, `active` run and its outbox
message in one transaction; the partial unique constraint on `active` is the claim, so two
clicks while a run is pending or running share that run. The task (`audit_verification_run`)
claims the queued run, walks every chain (apps.audit.chain.audit_chain_verify) and writes the
progress from the walk's hook in short autocommit transactions on a second connection: the walk
holds one REPEATABLE READ snapshot, whose own writes nobody would see before it ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.audit.chain import audit_chain_verify
from apps.audit.models import (
    AuditChainHead,
    AuditVerificationRun,
    RunStatus,
)
from apps.core.exceptions import Forbidden
from apps.core.outbox import outbox_enqueue
from apps.workspaces.models import workspace_ids_for
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action

VERIFY_TASK = "audit.verify_chain_now"
REQUEST_ACTION = "audit.verify_request"
# A run that has not moved for this long is taken to be lost (its worker died): a new request
# marks it abandoned instead of waiting for it forever. Progress moves every FETCH_SIZE events
# (about a second of walking), and the outbox relay sends a stuck message within a minute.
STALE_AFTER = dt.timedelta(minutes=10)


def audited_workspace_ids(principal: Principal) -> list[int]:
    """Workspaces whose trail the user reads: workspace-level roles only, as the trail's admin
    (a team-level admin does not open the trail)."""
    ids = workspace_ids_for(principal.required_user, Action.AUDIT)
    if isinstance(ids, list):
        return sorted(ids)
    return sorted(row["workspace_id"] for row in ids)


def may_request_verification(actor: Any) -> bool:
    """Owners, admins and auditors of some workspace, and operators: those who read a trail."""
    principal = as_principal(actor)
    if principal.kind != "user" or principal.user is None:
        return False
    return bool(principal.is_superuser or audited_workspace_ids(principal))


@transaction.atomic
def audit_verification_request(*, actor: Any) -> tuple[AuditVerificationRun, bool]:
    """Start a verification of every chain now, or join the one pending or running;
    returns (run, started). The request is audited in each chain the actor audits, so the
    run that follows covers the request itself."""
    principal = as_principal(actor)
    if not may_request_verification(principal):
        raise Forbidden("Only those who audit a workspace start a verification.")
    current = _current_run()
    if current is not None:
        return current, False
    try:
        with transaction.atomic():
            run = AuditVerificationRun.objects.create(
                started_at=timezone.now(),
                trigger="admin",
                status=RunStatus.QUEUED,
                active=True,
                heartbeat_at=timezone.now(),
            )
    except IntegrityError:  # another request claimed it between our read and insert
        joined = _current_run()
        if joined is None:
            raise
        return joined, False
    _audit_request(principal, run)
    outbox_enqueue(VERIFY_TASK, args=[run.pk], dedup_key=f"audit-verify-{run.pk}")
    return run, True


def _current_run() -> AuditVerificationRun | None:
    """The active run, unless it stopped moving (then it is marked abandoned)."""
    run = AuditVerificationRun.objects.select_for_update().filter(active=True).first()
    if run is None:
        return None
    if run.heartbeat_at and timezone.now() - run.heartbeat_at < STALE_AFTER:
        return run
    AuditVerificationRun.objects.filter(pk=run.pk).update(
        active=False, status=RunStatus.ABANDONED, finished_at=timezone.now()
    )
    return None


def _audit_request(principal: Principal, run: AuditVerificationRun) -> None:
    from apps.audit.services import audit_event_record

    chains: list[int | None] = list(audited_workspace_ids(principal))
    if principal.is_superuser and not chains:
        chains = [None]
    for workspace_id in chains:
        audit_event_record(
            actor=principal,
            action=REQUEST_ACTION,
            object_type="audit.auditverificationrun",
            object_id=str(run.pk),
            workspace_id=workspace_id,
            reason="Verify now (audit trail)",
        )


def audit_verification_run(*, run_id: int) -> AuditVerificationRun | None:
    """Run a queued verification; None when it is not queued any more (a repeated message,
    or a run already taken): the claim makes the task idempotent."""
    claimed = AuditVerificationRun.objects.filter(
        pk=run_id, status=RunStatus.QUEUED, active=True
    ).update(
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        events_total=_events_total(),
    )
    if claimed != 1:
        return None
    progress = _ProgressWriter(run_id)
    try:
        results = audit_chain_verify(progress=progress)
    except Exception:
        _finish(run_id, status=RunStatus.FAILED, problem="The verification stopped with an error.")
        raise
    finally:
        progress.close()
    broken = next((r for r in results if not r.ok), None)
    problem = ""
    if broken is not None:
        problem = f"Chain of workspace {broken.workspace_id or '(none)'}: {broken.problem}"
    return _finish(
        run_id,
        status=RunStatus.DONE,
        ok=broken is None,
        chains=len(results),
        events_checked=sum(r.checked for r in results),
        results=[r.as_dict() for r in results],
        problem=problem,
    )


def _events_total() -> int:
    return int(AuditChainHead.objects.aggregate(total=Sum("count"))["total"] or 0)


def _finish(run_id: int, **values: Any) -> AuditVerificationRun:
    AuditVerificationRun.objects.filter(pk=run_id).update(
        active=False, finished_at=timezone.now(), heartbeat_at=timezone.now(), **values
    )
    return AuditVerificationRun.objects.get(pk=run_id)


class _ProgressWriter:
    """The walk's progress hook: one UPDATE per call on a connection of its own (autocommit),
    opened on the first call, so a short walk costs nothing."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.raw: Any = None

    def __call__(self, checked: int) -> None:
        if self.raw is None:
            self.raw = connection.get_new_connection(connection.get_connection_params())
            self.raw.autocommit = True
        with self.raw.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditverificationrun SET events_checked = %s, heartbeat_at = now() "
                "WHERE id = %s AND status = %s",
                [checked, self.run_id, RunStatus.RUNNING.value],
            )

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()
            self.raw = None
