"""Verifying the hash chains, and retention's one sanctioned way past the append-only triggers.

Each workspace has one chain (events of no workspace form one more); see docs/audit.md. The
chaining itself happens on insert (apps.audit.models.chain_events).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.string import TextLoader

from apps.audit.hashing import GENESIS_HASH, SQL_TIMESTAMP_FORMAT, canonical_text
from apps.audit.models import (
    AuditChainAnchor,
    AuditChainHead,
    AuditEvent,
    AuditRedaction,
    AuditVerificationRun,
)
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.workspaces.principal import Principal, as_principal

PRUNE_ACTION = "audit.prune"
REDACT_ACTION = "audit.redact"
FETCH_SIZE = 20_000

_COLUMNS = (
    "id, chain_seq, workspace_id, "
    f"to_char(created_at AT TIME ZONE 'UTC', '{SQL_TIMESTAMP_FORMAT}'), "
    "actor_kind, actor_id, actor_label, action, object_type, object_id, object_repr, "
    "before, after, reason, request_id, prev_hash, hash"
)
_COLUMNS_AS_TEXT = _COLUMNS.replace("before, after", "before::text, after::text")


@dataclass(frozen=True)
class ChainVerification:
    workspace_id: int | None
    checked: int  # events checked in this chain
    ok: bool
    first_broken_event_id: int | None
    first_broken_seq: int | None
    problem: str  # "" when ok, else a human-readable sentence
    head_seq: int | None
    head_hash: str
    # The events of this chain that verified as redacted: id, seq, when, job, fields, hashes.
    redacted: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Break:
    seq: int
    event_id: int | None
    problem: str


@dataclass
class _Walk:
    """The state of one chain while its events stream past in seq order."""

    workspace_id: int | None
    expected_seq: int = 1
    prev_hash: str = GENESIS_HASH
    checked: int = 0
    last_seq: int | None = None
    last_hash: str = ""
    anchor: AuditChainAnchor | None = None
    anchor_confirmed: bool = True
    broken: _Break | None = None
    redacted: list[tuple[int, list[AuditRedaction]]] = field(default_factory=list)  # by seq

    def start_after(self, anchor: AuditChainAnchor) -> None:
        self.anchor, self.anchor_confirmed = anchor, False
        self.expected_seq, self.prev_hash = anchor.seq + 1, anchor.hash


@dataclass
class _Redactions:
    """The redactions of the chains being verified (rare: one query per walk, no per-event
    query): by redacted event id, oldest first (the last one holds the hash of the event's
    current content), and by the `audit.redact` event that must record each of them."""

    by_event: dict[int, list[AuditRedaction]]
    by_record: dict[int, list[AuditRedaction]]
    confirmed: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, workspace_id: int | None) -> _Redactions:
        records = AuditRedaction.objects.order_by("id")
        if workspace_id is not None:
            records = records.filter(workspace_id=workspace_id)
        by_event: dict[int, list[AuditRedaction]] = {}
        by_record: dict[int, list[AuditRedaction]] = {}
        for record in records:
            by_event.setdefault(record.event_id, []).append(record)
            by_record.setdefault(record.redaction_event_id, []).append(record)
        return cls(by_event, by_record)

    def confirm(self, row: tuple[Any, ...]) -> None:
        """`row` (verified) is the event a record names as its own: it must be an
        audit.redact event of the record's chain that states its event, hashes and fields."""
        after = json.loads(row[12]) if row[12] else None
        if row[7] != REDACT_ACTION or not isinstance(after, dict):
            return
        for record in self.by_record[row[0]]:
            if record.workspace_id != row[2]:
                continue
            stated = (
                after.get("event_id"),
                after.get("original_hash"),
                after.get("redacted_hash"),
                after.get("fields"),
            )
            if stated == (
                record.event_id,
                record.original_hash,
                record.redacted_hash,
                list(record.fields),
            ):
                self.confirmed.add(record.pk)


def audit_chain_verify(
    *, workspace_id: int | None = None, progress: Callable[[int], None] | None = None
) -> list[ChainVerification]:
    """Recompute every event's hash and link; one result per chain.

    Streams the trail once in id order (the table's physical order: sequential reads) through a
    server-side cursor, reading only the hashed columns, and walks every chain at once: within
    a chain ids grow with seq, because both are handed out under the chain head's lock.
    `workspace_id=None` verifies every chain, including the chain of events of no workspace.
    `progress` is called with the running event count. Redacted events are checked against
    their redaction record (`_Redactions`), loaded once with the heads and anchors.
    """
    walks: dict[int | None, _Walk] = {}
    with transaction.atomic():
        _one_snapshot()
        heads = _heads(workspace_id)
        anchors = _latest_anchors(workspace_id)
        redactions = _Redactions.load(workspace_id)
        for count, row in enumerate(_stream(workspace_id), start=1):
            walk = walks.get(row[2])
            if walk is None:
                walk = walks[row[2]] = _new_walk(row[2], anchors)
            _step(walk, row, redactions)
            if progress is not None and count % FETCH_SIZE == 0:
                progress(count)
    for chain_id in heads:
        walks.setdefault(chain_id, _new_walk(chain_id, anchors))
    return [_finish(walks[c], heads.get(c), redactions) for c in sorted(walks, key=_chain_order)]


def _one_snapshot() -> None:
    """Heads, anchors and events must be read as of one moment, or an event committed while
    the stream runs would look like a chain grown past its head. A caller's transaction
    already fixed its isolation; otherwise this one becomes REPEATABLE READ."""
    if connection.in_atomic_block and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _chain_order(workspace_id: int | None) -> tuple[bool, int]:
    return (workspace_id is None, workspace_id or 0)


def _heads(workspace_id: int | None) -> dict[int | None, AuditChainHead]:
    heads = AuditChainHead.objects.all()
    if workspace_id is not None:
        heads = heads.filter(workspace_id=workspace_id)
    return {head.workspace_id: head for head in heads}


def _latest_anchors(workspace_id: int | None) -> dict[int | None, AuditChainAnchor]:
    anchors = AuditChainAnchor.objects.order_by("workspace_id", "-seq")
    if workspace_id is not None:
        anchors = anchors.filter(workspace_id=workspace_id)
    latest: dict[int | None, AuditChainAnchor] = {}
    for anchor in anchors:
        latest.setdefault(anchor.workspace_id, anchor)
    return latest


def _new_walk(workspace_id: int | None, anchors: dict[int | None, AuditChainAnchor]) -> _Walk:
    walk = _Walk(workspace_id)
    if workspace_id in anchors:
        walk.start_after(anchors[workspace_id])
    return walk


def _stream(workspace_id: int | None) -> Iterator[tuple[Any, ...]]:
    """Rows in chain order through a named (server-side) psycopg cursor."""
    where, params = ("", [])
    if workspace_id is not None:
        where, params = "WHERE workspace_id = %s", [workspace_id]
    sql = f"SELECT {_COLUMNS} FROM audit_auditevent {where} ORDER BY id"  # noqa: S608 - fixed text
    connection.ensure_connection()
    raw: Any = connection.connection
    with raw.cursor(name="audit_chain_verify") as cursor:
        # before / after are hashed in jsonb's text form: read them unparsed.
        cursor.adapters.register_loader("jsonb", TextLoader)
        cursor.itersize = FETCH_SIZE
        cursor.execute(sql, params)
        yield from cursor


def stored_content_hash(event_id: int) -> str:
    """The canonical hash of one event as stored now, read exactly as verification reads it
    (before/after in jsonb's text form), so a redaction records what verification computes."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS_AS_TEXT} FROM audit_auditevent WHERE id = %s",  # noqa: S608
            [event_id],
        )
        row = cursor.fetchone()
    return hashlib.sha256(canonical_text(*row[:16]).encode()).hexdigest()


def _step(walk: _Walk, row: tuple[Any, ...], redactions: _Redactions) -> None:
    walk.checked += 1
    if walk.broken is not None:
        return
    event_id, seq, stored_hash = row[0], row[1], row[16]
    broken = _link_problem(walk, event_id, seq, row[15])
    if broken is None:
        digest = hashlib.sha256(canonical_text(*row[:16]).encode()).hexdigest()
        records = redactions.by_event.get(event_id) if redactions.by_event else None
        if records is not None:
            broken = _redaction_problem(walk, records, digest, stored_hash, seq)
        elif digest != stored_hash:
            problem = f"Content altered: event {event_id} at seq {seq} no longer matches its hash."
            broken = _Break(seq, event_id, problem)
    if broken is not None:
        walk.broken = broken
        return
    if row[7] == PRUNE_ACTION and walk.anchor is not None:
        _confirm_anchor(walk, json.loads(row[12]) if row[12] else None)
    if redactions.by_record and event_id in redactions.by_record:
        redactions.confirm(row)
    walk.expected_seq, walk.prev_hash = seq + 1, stored_hash
    walk.last_seq, walk.last_hash = seq, stored_hash


def _redaction_problem(
    walk: _Walk, records: list[AuditRedaction], digest: str, stored_hash: str, seq: int
) -> _Break | None:
    """A redacted event keeps its stored hash (the next event links to it) and its content
    must hash to what the latest redaction recorded, so changing it again is still caught."""
    latest = records[-1]
    when = f"{latest.created_at:%Y-%m-%d %H:%M}"
    if latest.workspace_id != walk.workspace_id:
        return _Break(
            seq,
            latest.event_id,
            f"Redaction mismatch: event {latest.event_id} at seq {seq} has a redaction record "
            "of another chain.",
        )
    if stored_hash != latest.original_hash:
        return _Break(
            seq,
            latest.event_id,
            f"Redaction mismatch: event {latest.event_id} at seq {seq} no longer stores the "
            f"hash its redaction of {when} recorded.",
        )
    if digest != latest.redacted_hash:
        return _Break(
            seq,
            latest.event_id,
            f"Content altered: event {latest.event_id} at seq {seq}, redacted {when}, no "
            "longer matches its redacted hash.",
        )
    walk.redacted.append((seq, records))
    return None


def _unconfirmed_redaction(walk: _Walk, redactions: _Redactions) -> _Break | None:
    for seq, records in walk.redacted:
        for record in records:
            if record.pk not in redactions.confirmed:
                return _Break(
                    seq,
                    record.event_id,
                    f"Unconfirmed redaction: event {record.event_id} at seq {seq} was redacted "
                    f"({', '.join(record.fields)}), but no {REDACT_ACTION} event in the chain "
                    f"records it (redaction {record.pk}, event {record.redaction_event_id}).",
                )
    return None


def _redacted_summary(seq: int, records: list[AuditRedaction]) -> dict[str, Any]:
    latest = records[-1]
    return {
        "event_id": latest.event_id,
        "seq": seq,
        "redacted_at": latest.created_at.isoformat(),
        "job": latest.job,
        "fields": sorted({name for record in records for name in record.fields}),
        "original_hash": latest.original_hash,
        "redacted_hash": latest.redacted_hash,
        "redaction_event_ids": [record.redaction_event_id for record in records],
    }


def _link_problem(walk: _Walk, event_id: int, seq: int, prev_hash: str) -> _Break | None:
    expected = walk.expected_seq
    if seq > expected:
        return _skipped(walk, event_id, seq)
    if seq < expected:
        return _Break(
            seq, event_id, f"Order changed: event {event_id} claims seq {seq}, already passed."
        )
    if prev_hash != walk.prev_hash:
        return _Break(seq, event_id, _prev_hash_problem(walk, event_id, seq, prev_hash))
    return None


def _skipped(walk: _Walk, event_id: int, seq: int) -> _Break:
    """An event arrived (in id order) ahead of its seq: was the position in between deleted,
    or is it held by an event written later, i.e. were events reordered?"""
    expected = walk.expected_seq
    holder = (
        _chain_events(walk.workspace_id)
        .filter(chain_seq=expected)
        .values_list("id", flat=True)
        .first()
    )
    if holder is not None:
        return _Break(
            expected,
            holder,
            f"Order changed: event {holder} stands at seq {expected} but was written after "
            f"event {event_id}, which stands at seq {seq} (events reordered).",
        )
    gap = f"seq {expected}" if seq == expected + 1 else f"seq {expected} to {seq - 1}"
    return _Break(
        expected,
        event_id,
        f"Events missing: {gap} of this chain no longer exist(s); the chain continues at "
        f"event {event_id} (seq {seq}). Events were deleted.",
    )


def _prev_hash_problem(walk: _Walk, event_id: int, seq: int, prev_hash: str) -> str:
    """Tell a swap of two events from a rewritten predecessor: does the hash this event points
    at belong to an event further along the chain?"""
    later = (
        _chain_events(walk.workspace_id)
        .filter(chain_seq__gt=seq, hash=prev_hash)
        .values_list("id", "chain_seq")
        .first()
    )
    if later is not None:
        return (
            f"Order changed: event {event_id} at seq {seq} follows event {later[0]}, which now "
            f"stands at seq {later[1]} (events reordered)."
        )
    return (
        f"Broken link (prev_hash mismatch): event {event_id} at seq {seq} does not carry the "
        f"hash of the event at seq {seq - 1}; that event was rewritten or replaced."
    )


def _chain_events(workspace_id: int | None) -> Any:
    if workspace_id is None:
        return AuditEvent.objects.filter(workspace_id__isnull=True).order_by()
    return AuditEvent.objects.filter(workspace_id=workspace_id).order_by()


def _confirm_anchor(walk: _Walk, after: Any) -> None:
    anchor = walk.anchor
    if anchor is not None and isinstance(after, dict):
        walk.anchor_confirmed = walk.anchor_confirmed or (
            after.get("anchor_seq") == anchor.seq and after.get("anchor_hash") == anchor.hash
        )


def _finish(walk: _Walk, head: AuditChainHead | None, redactions: _Redactions) -> ChainVerification:
    broken = walk.broken or _head_problem(walk, head)
    if broken is None and not walk.anchor_confirmed and walk.anchor is not None:
        broken = _Break(
            walk.anchor.seq,
            walk.anchor.event_id,
            f"Unconfirmed anchor: the chain starts after seq {walk.anchor.seq}, but no "
            f"{PRUNE_ACTION} event in the chain records that anchor.",
        )
    if broken is None:
        broken = _unconfirmed_redaction(walk, redactions)
    return ChainVerification(
        workspace_id=walk.workspace_id,
        checked=walk.checked,
        ok=broken is None,
        first_broken_event_id=broken.event_id if broken else None,
        first_broken_seq=broken.seq if broken else None,
        problem=broken.problem if broken else "",
        head_seq=walk.last_seq,
        head_hash=walk.last_hash,
        redacted=[_redacted_summary(seq, records) for seq, records in walk.redacted],
    )


def _head_problem(walk: _Walk, head: AuditChainHead | None) -> _Break | None:
    """The chain's last events are missing if its head row remembers more than is there."""
    last_seq = walk.last_seq or (walk.anchor.seq if walk.anchor else 0)
    if head is None:
        return _Break(1, None, "The chain has events but no head row.") if walk.checked else None
    if head.last_seq > last_seq:
        return _Break(
            last_seq + 1,
            head.last_event_id,
            f"Events missing at the end: the head records seq {head.last_seq} (event "
            f"{head.last_event_id}), the chain ends at seq {last_seq}. Events were deleted.",
        )
    if head.last_seq < last_seq or (walk.last_seq and head.last_hash != walk.last_hash):
        return _Break(
            last_seq,
            head.last_event_id,
            f"The head (seq {head.last_seq}) does not match the chain's last event "
            f"(seq {last_seq}).",
        )
    return None


# --- scheduled / recorded runs -----------------------------------------------------------------


def audit_verification_run_record(*, trigger: str) -> AuditVerificationRun:
    """Verify every chain and keep the result, so the admin shows when the trail last held."""
    started = timezone.now()
    results = audit_chain_verify()
    broken = next((r for r in results if not r.ok), None)
    problem = ""
    if broken is not None:
        problem = f"Chain of workspace {broken.workspace_id or '(none)'}: {broken.problem}"
    return AuditVerificationRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        trigger=trigger,
        ok=broken is None,
        chains=len(results),
        events_checked=sum(r.checked for r in results),
        results=[r.as_dict() for r in results],
        problem=problem,
    )


# --- retention --------------------------------------------------------------------------------


@transaction.atomic
def audit_events_prune(*, actor: Principal, workspace_id: int, before: dt.datetime) -> int:
    """Delete the oldest events of one chain created before `before`; returns how many.

    Retention is the only way events leave the trail: the chain's prefix goes, an anchor keeps
    the seq and hash of its last event (verification restarts from it), and a `audit.prune`
    event in the same chain records the anchor, so an anchor nobody recorded is detected.
    Operators and system tasks only. The prefix stops at the first event not older than
    `before`, so the chain stays contiguous.
    """
    principal = as_principal(actor)
    if not (principal.kind == "system" or principal.is_superuser):
        raise Forbidden("Only operators and system tasks prune the audit trail.")
    if timezone.is_naive(before):
        raise ValidationFailed("The cutoff needs a time zone.", fields={"before": ["Naive."]})
    head = AuditChainHead.objects.select_for_update().filter(workspace_id=workspace_id).first()
    if head is None:
        return 0
    last = _last_prunable(workspace_id, before)
    if last is None:
        return 0
    anchor_id, anchor_seq, anchor_hash, first_seq = last
    deleted = _delete_through(workspace_id, anchor_seq, anchor_id, anchor_hash, before)
    AuditChainHead.objects.filter(pk=head.pk).update(count=head.count - deleted)
    from apps.audit.services import audit_event_record

    audit_event_record(
        actor=principal,
        action=PRUNE_ACTION,
        object_type="audit.chain",
        object_id=str(workspace_id),
        workspace_id=workspace_id,
        after={
            "anchor_seq": anchor_seq,
            "anchor_hash": anchor_hash,
            "anchor_event_id": anchor_id,
            "first_seq": first_seq,
            "deleted": deleted,
            "cutoff": before.isoformat(),
        },
        reason=f"Retention: events created before {before.isoformat()}",
    )
    return deleted


def _last_prunable(workspace_id: int, before: dt.datetime) -> tuple[int, int, str, int] | None:
    """(id, seq, hash, first seq) of the last event of the prefix created before `before`."""
    chain = _chain_events(workspace_id)
    first = chain.order_by("chain_seq").values_list("chain_seq", "created_at").first()
    if first is None or first[1] >= before:
        return None
    newer = chain.filter(created_at__gte=before).order_by("chain_seq").values("chain_seq")[:1]
    bounded = chain.exclude(chain_seq__gte=newer) if newer.exists() else chain
    last = bounded.order_by("-chain_seq").values_list("id", "chain_seq", "hash").first()
    assert last is not None  # noqa: S101 - the first event is in the prefix
    return (*last, first[0])


def _delete_through(
    workspace_id: int, seq: int, event_id: int, event_hash: str, before: dt.datetime
) -> int:
    """Anchor first (the trigger only lets DELETE past an anchor), then delete under the
    transaction-local flag, then switch the flag off again."""
    pruned = AuditEvent.objects.filter(workspace_id=workspace_id, chain_seq__lte=seq).count()
    AuditChainAnchor.objects.create(
        workspace_id=workspace_id,
        seq=seq,
        hash=event_hash,
        event_id=event_id,
        pruned=pruned,
        cutoff=before,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('steward.audit_prune', 'on', true)")
        cursor.execute(
            "DELETE FROM audit_auditevent WHERE workspace_id = %s AND chain_seq <= %s",
            [workspace_id, seq],
        )
        deleted = int(cursor.rowcount)
        cursor.execute("SELECT set_config('steward.audit_prune', 'off', true)")
    return deleted


# --- exported heads ---------------------------------------------------------------------------


def audit_head_check(head: dict[str, Any]) -> str:
    """ "" when the chain still holds `head` (the event at head_seq carries head_hash, or an
    anchor does after retention), else what is wrong. The signature is checked by the caller
    (apps.audit.signing.read_signed_head)."""
    workspace_id, seq, expected = head["workspace_id"], head["head_seq"], head["head_hash"]
    if seq == 0:
        return ""
    stored = _chain_events(workspace_id).filter(chain_seq=seq).values_list("hash", flat=True)
    found = stored.first()
    if found is None:
        anchor = (
            AuditChainAnchor.objects.filter(workspace_id=workspace_id, seq=seq)
            .values_list("hash", flat=True)
            .first()
        )
        if anchor is not None:
            found = anchor
        elif AuditChainAnchor.objects.filter(workspace_id=workspace_id, seq__gt=seq).exists():
            return f"Seq {seq} was pruned by retention; only a later anchor can be checked."
        else:
            return f"The chain no longer holds seq {seq}: events were deleted."
    if found != expected:
        return (
            f"The event at seq {seq} no longer carries the exported hash: the chain was rewritten."
        )
    return ""
