"""The audit trail: one append-only row per change, written in the change's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn, Self

from django.contrib.postgres.fields import ArrayField
from django.db import connection, models, transaction
from django.db.models import Exists, Q
from django.utils import timezone

from apps.audit.hashing import GENESIS_HASH, event_hash
from apps.core.bulk import bulk_insert
from apps.workspaces.models import ScopedQuerySet, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action


class AppendOnlyError(RuntimeError):
    """Raised on any attempt to change or remove an audit event through the ORM."""


class AuditEventQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        # Reading the trail needs the audit capability, whatever action was asked for.
        user = principal.required_user
        return self.filter(Q(workspace_id__in=workspace_ids_for(user, Action.AUDIT)))

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; update() is refused.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; delete() is refused.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; bulk_update() is refused.")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; update_or_create() is refused.")

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("update_conflicts"):
            raise AppendOnlyError("Audit events are append-only; upserts are refused.")
        if kwargs.get("ignore_conflicts"):
            # A skipped row would leave a hole in its chain.
            raise AppendOnlyError("Audit events are chained; ignore_conflicts is refused.")
        events = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            if args or kwargs or self.db != connection.alias:
                chain_events(events)
                return super().bulk_create(events, *args, **kwargs)
            # One statement of arrays (every event has its id by now), which also moves the
            # chain heads to the last event (one round trip fewer).
            bulk_insert(events, first=chain_events(events, defer_heads=True))
            return events


class AuditVerificationRunQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        """Runs cover every chain; anyone who may audit some workspace sees that they ran (the
        admin shows them only their own chains' results)."""
        audited = workspace_ids_for(principal.required_user, Action.AUDIT)
        if isinstance(audited, list):  # an admin request's snapshot (apps/workspaces/grants.py)
            return self.all() if audited else self.none()
        return self.filter(Exists(audited))


class ActorKind(models.TextChoices):
    USER = "user", "User"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System task"


class AuditEvent(models.Model):
    """Who did what to which object, with before/after snapshots (masked) and why.

    `workspace` carries no database constraint so the trail outlives what it describes.
    """

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    workspace = models.ForeignKey(
        "workspaces.Workspace",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # The hash chain (apps/audit/chain.py): position in the workspace's chain, the hash of the
    # event before it and the hash of this event's canonical form (apps/audit/hashing.py).
    chain_seq = models.BigIntegerField(editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "chain_seq"],
                name="audit_chain_position",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-id"], name="audit_ws_id"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["actor_kind", "actor_id"], name="audit_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("update_fields") or kwargs.get("force_update"):
            raise AppendOnlyError("Audit events are append-only; an existing event can't be saved.")
        # An explicit pk on a new instance would otherwise make Django try an UPDATE first and
        # overwrite the stored event; forcing the INSERT turns that into an IntegrityError.
        kwargs["force_insert"] = True
        # No savepoint: a failed insert must roll back the caller's change and the chain head
        # it advanced together; and two statements fewer on every audited write.
        with transaction.atomic(using=kwargs.get("using"), savepoint=False):
            chain_events([self])
            super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; delete() is refused.")


class AuditChainHead(models.Model):
    """The end of one workspace's chain (workspace_id NULL: the chain of events of no
    workspace). Its row lock serialises the writers of a chain, which gives strict order."""

    workspace_id = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    last_event_id = models.BigIntegerField(null=True, blank=True)
    count = models.BigIntegerField(default=0, help_text="Events in the chain now (after pruning).")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace_id"], name="audit_chain_head_unique", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"chain {self.workspace_id or '-'} @ {self.last_seq}"


class AuditChainAnchor(models.Model):
    """Where a chain starts again after retention pruned its oldest events: the seq and hash
    of the last pruned event. Append-only (database triggers), like the events."""

    workspace_id = models.BigIntegerField(null=True, blank=True)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    event_id = models.BigIntegerField()
    pruned = models.BigIntegerField()
    cutoff = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["workspace_id", "seq"], name="audit_anchor_chain")]

    def __str__(self) -> str:
        return f"anchor {self.workspace_id or '-'} @ {self.seq}"


class AuditRedaction(models.Model):
    """Personal data removed from one audit event after the fact (the PII re-scan): the
    event keeps its `hash` (the next event links to it), and this record keeps the hash of
    the redacted content, so verification still detects any later change of the row.

    Append-only (database triggers). Written with an `audit.redact` event in the same chain
    that carries the same hashes and field names (never the values); verification requires
    that event. `workspace_id` lets verification load a chain's redactions in one query.
    """

    event = models.ForeignKey(
        AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="redactions"
    )
    workspace_id = models.BigIntegerField(null=True, blank=True)
    original_hash = models.CharField(max_length=64, help_text="The event's stored hash.")
    redacted_hash = models.CharField(
        max_length=64, help_text="The canonical hash of the redacted content (same prev_hash)."
    )
    fields = ArrayField(models.CharField(max_length=20), help_text="The fields redacted.")
    redaction_event = models.ForeignKey(
        AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    job = models.CharField(
        max_length=120, blank=True, help_text="What ran it, as model label:id (a re-scan job)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["workspace_id"], name="audit_redaction_chain")]

    def __str__(self) -> str:
        return f"redaction of event {self.event_id} ({', '.join(self.fields)})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit redactions are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit redactions are append-only; delete() is refused.")


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Finished"
    FAILED = "failed", "Failed"
    ABANDONED = "abandoned", "Abandoned"


class AuditVerificationRun(models.Model):
    """One run of the chain verification (scheduled, command or admin) and what it found.

    A run asked for from the admin ("verify now") is created queued and `active`; at most one
    run is active at a time (the partial unique constraint is the claim), and while it runs
    `events_checked` grows against `events_total` (written from the walk's progress hook in
    short transactions of their own; `heartbeat_at` says when it last moved)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.DONE)
    active = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    chains = models.IntegerField(default=0)
    events_checked = models.BigIntegerField(default=0)
    events_total = models.BigIntegerField(null=True, blank=True)
    results = models.JSONField(default=list, help_text="One ChainVerification per chain.")
    problem = models.TextField(blank=True, help_text="The first broken link, if any.")

    objects = AuditVerificationRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="audit_one_active_verification"
            )
        ]

    def __str__(self) -> str:
        state = {True: "ok", False: "BROKEN", None: self.status}[self.ok]
        return f"verification {self.started_at:%Y-%m-%d %H:%M} {state}"

    def result_for(self, workspace_id: int | None) -> dict[str, Any] | None:
        return next((r for r in self.results if r["workspace_id"] == workspace_id), None)


_ADVANCE_HEAD = """
INSERT INTO audit_auditchainhead AS h
    (workspace_id, last_seq, last_hash, last_event_id, count, updated_at)
VALUES (%s, %s, %s, NULL, %s, now())
ON CONFLICT (workspace_id) DO UPDATE
    SET last_seq = h.last_seq + EXCLUDED.last_seq, count = h.count + EXCLUDED.count,
        updated_at = now()
RETURNING h.id, h.last_seq, h.last_hash, nextval(pg_get_serial_sequence('audit_auditevent', 'id'))
"""
_NEXT_IDS = (
    "SELECT nextval(pg_get_serial_sequence('audit_auditevent', 'id')) FROM generate_series(1, %s)"
)
_SET_HEAD = "UPDATE audit_auditchainhead SET last_hash = %s, last_event_id = %s WHERE id = %s"


def chain_events(
    events: list[AuditEvent], *, defer_heads: bool = False
) -> list[tuple[str, list[Any]]]:
    """Give new events their place in their workspace's chain: seq, prev_hash and hash.

    Must run inside the transaction that inserts them: the head row stays locked until commit,
    so writers of one chain take turns and seq order is commit order. Chains are locked in
    workspace order to keep two multi-workspace writers from deadlocking each other.
    `defer_heads`: the UPDATEs that record each head's last hash and event are returned,
    (sql, params), for the caller to run with its insert, instead of being run here.
    """
    groups: dict[int | None, list[AuditEvent]] = {}
    for event in events:
        groups.setdefault(event.workspace_id, []).append(event)
    heads = []
    with connection.cursor() as cursor:
        for workspace_id in sorted(groups, key=lambda w: (w is not None, w or 0)):
            head = _chain_group(cursor, workspace_id, groups[workspace_id])
            if defer_heads:
                heads.append(head)
            else:
                cursor.execute(*head)
    return heads


def _chain_group(
    cursor: Any, workspace_id: int | None, events: list[AuditEvent]
) -> tuple[str, list[Any]]:
    n = len(events)
    cursor.execute(_ADVANCE_HEAD, [workspace_id, n, GENESIS_HASH, n])
    head_id, last_seq, prev_hash, first_id = cursor.fetchone()
    ids = [first_id]  # one id comes with the head; a bulk insert fetches the rest
    if n > 1:
        cursor.execute(_NEXT_IDS, [n - 1])
        ids.extend(new_id for (new_id,) in cursor.fetchall())
    for event, new_id in zip(events, ids, strict=True):
        if event.pk is None:  # an explicit pk is kept: inserting it twice fails, as it should
            event.pk = new_id
    for seq, event in enumerate(events, start=last_seq - n + 1):
        event.chain_seq, event.prev_hash = seq, prev_hash
        event.hash = prev_hash = event_hash(event)
    return _SET_HEAD, [prev_hash, events[-1].pk, head_id]
