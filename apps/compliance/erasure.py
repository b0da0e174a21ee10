"""Data-subject erasure: a dry run that plans, four-eyes approval, execution by a worker in
keyset batches, an audit tombstone without personal data, and a report for the requester."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, TextField
from django.db.models.functions import Cast

from apps.audit.services import audit_event_record
from apps.compliance.models import ErasureRequest, ErasureStatus, PiiFingerprint
from apps.compliance.registry import ErasureTarget, erasure_target, erasure_targets
from apps.compliance.subject import REDACTED, Subject, seal, subject_from_input, unseal
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.core.outbox import outbox_enqueue
from apps.privacy.engine.json_walk import JsonWalker
from apps.privacy.policies import text_mask
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

ERASURE_ACTOR = Principal.system("erasure")
ERASURE_REASON = "data-subject erasure"
PLAN_IDS_SHOWN = 200
REASON_MAX_CHARS = 1000
JSON_SCRUB_MAX_DEPTH = 1000  # stored JSON was depth-checked when masked; never refuse here


def _batch_size() -> int:
    return int(getattr(settings, "ERASURE_BATCH_SIZE", 200))


@dataclass
class Plan:
    """What an erasure touches: root rows to delete, fields to scrub, rows kept (counted).

    `legacy_tokens` are the kept rows that hold a hash or encrypted token of the subject:
    audit events written before the trail stripped keyed tokens (apps.audit.services), which
    the append-only trail keeps. Newer kept rows can only mention the subject by an external
    id in clear, which the PII engine does not mask."""

    delete: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    scrub: dict[str, dict[int, set[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    kept: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    legacy_tokens: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    @property
    def total(self) -> int:
        return sum(map(len, self.delete.values())) + sum(map(len, self.scrub.values()))

    def as_json(self) -> dict[str, Any]:
        def part(groups: dict[str, Any]) -> dict[str, Any]:
            return {
                label: {"count": len(ids), "ids": sorted(ids)[:PLAN_IDS_SHOWN]}
                for label, ids in sorted(groups.items())
                if ids
            }

        return {
            "delete": part(self.delete),
            "scrub": part(self.scrub),
            "kept": part(self.kept),
            "legacy_tokens": part(self.legacy_tokens),
        }


# --- planning ----------------------------------------------------------------------------------


def _add(plan: Plan, target: ErasureTarget, rows: dict[int, set[str]]) -> None:
    if not rows:
        return
    if target.action == "keep":
        plan.kept[target.model_label].update(rows)
    elif target.action == "scrub":
        for pk, names in rows.items():
            plan.scrub[target.model_label][pk].update(names)
    elif target.root is None:
        plan.delete[target.model_label].update(rows)
    else:
        manager = target.model._base_manager
        roots = manager.filter(pk__in=list(rows)).values_list(target.root[1], flat=True)
        plan.delete[target.root_label].update(r for r in roots if r is not None)


def _linked_rows(subject: Subject, plan: Plan) -> None:
    fingerprints = [item["fingerprint"] for item in subject.fingerprints()]
    links = PiiFingerprint.objects.filter(
        workspace_id=subject.workspace_id, fingerprint__in=fingerprints
    ).values_list("model_label", "object_id", "field_name")
    grouped: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for label, object_id, name in links:
        grouped[label][object_id].add(name)
    for label, rows in grouped.items():
        target = erasure_target(label)
        if target is not None:
            existing = set(
                target.model._base_manager.filter(pk__in=list(rows)).values_list("pk", flat=True)
            )
            _add(plan, target, {pk: names for pk, names in rows.items() if pk in existing})


def _searched_rows(subject: Subject, target: ErasureTarget) -> tuple[dict[int, set[str]], set[int]]:
    """Rows whose text holds a value, a hash token or an encrypted token of the subject,
    walked in keyset batches; each candidate is confirmed in Python (tokens are decrypted).
    Also the ids of the rows among them that hold a token (not only a value in clear)."""
    names = target.search_fields
    annotations = {f"_t{i}": Cast(name, TextField()) for i, name in enumerate(names)}
    wanted = Q()
    needles = [*subject.needles(), *(target.needles(subject) if target.needles else [])]
    for i in range(len(names)):
        for needle in needles:
            wanted |= Q(**{f"_t{i}__icontains": needle})
        for kind in subject.encrypted_types():
            wanted |= Q(**{f"_t{i}__contains": f"<ENC:{kind}:"})
    queryset = target.scope(target.model._base_manager.all(), subject.workspace_id)
    candidates = queryset.annotate(**annotations).filter(wanted).order_by("pk")
    found: dict[int, set[str]] = {}
    with_tokens: set[int] = set()
    last = 0
    while True:
        rows = list(candidates.filter(pk__gt=last).values_list("pk", *annotations)[:500])
        if not rows:
            return found, with_tokens
        for pk, *texts in rows:
            for name, text in zip(names, texts, strict=True):
                tokens = _tokens_in(subject, target, text) if text else []
                if tokens:
                    found.setdefault(pk, set()).add(name)
                if any(token.startswith("<") for token in tokens):
                    with_tokens.add(pk)
        last = rows[-1][0]


def _tokens_in(subject: Subject, target: ErasureTarget, text: str) -> list[str]:
    """The subject's tokens in `text`, with the values only `target` derives, longest first."""
    found = set(subject.tokens_in(text))
    if target.needles is not None:
        lowered = text.lower()
        found.update(n for n in target.needles(subject) if n and n.lower() in lowered)
    return sorted(found, key=len, reverse=True)


def plan_for(subject: Subject) -> Plan:
    plan = Plan()
    _linked_rows(subject, plan)
    for target in erasure_targets():
        rows, with_tokens = _searched_rows(subject, target)
        _add(plan, target, rows)
        if target.action == "keep" and with_tokens:
            plan.legacy_tokens[target.model_label].update(with_tokens)
    return plan


# --- services ----------------------------------------------------------------------------------


def _clean_reason(workspace: Workspace, reason: object, subject: Subject | None) -> str:
    """Masked, and without the subject's own tokens: a hash or encrypted token of the subject
    in a reason would outlive the erasure in the audit trail."""
    if not isinstance(reason, str) or len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            f"The reason is text of at most {REASON_MAX_CHARS} characters.",
            fields={"reason": ["Invalid reason."]},
        )
    masked = text_mask(workspace, reason.strip()).text
    if subject is None:
        return str(_scrubbed_value(masked, []))
    return str(_scrubbed_value(masked, subject.tokens_in(masked)))


def _subject_of(request: ErasureRequest) -> Subject | None:
    return unseal(request.workspace_id, request.sealed_subject) if request.sealed_subject else None


@transaction.atomic
def erasure_request_create(
    *,
    actor: Any,
    workspace: Workspace,
    emails: list[str] = (),  # type: ignore[assignment]
    phones: list[str] = (),  # type: ignore[assignment]
    external_ids: list[str] = (),  # type: ignore[assignment]
    reason: str = "",
) -> ErasureRequest:
    """Record a subject's request and its dry run (what would go, by model and id). Owners and
    admins of the workspace; nothing is erased until another of them approves."""
    require(actor, Action.MANAGE, workspace)
    subject = subject_from_input(
        workspace.pk, emails=list(emails), phones=list(phones), external_ids=list(external_ids)
    )
    plan = plan_for(subject)
    principal = as_principal(actor)
    request = ErasureRequest.objects.create(
        workspace=workspace,
        subject_label=subject.label()[:300],
        subject_fingerprints=subject.fingerprints(),
        sealed_subject=seal(subject),
        reason=_clean_reason(workspace, reason, subject),
        plan=plan.as_json(),
        total=plan.total,
        requested_by=principal.user,
    )
    audit_event_record(
        actor=actor,
        action="erasure.dry_run",
        obj=request,
        workspace_id=workspace.pk,
        after={"plan": _counts(request.plan), "identifiers": len(request.subject_fingerprints)},
        reason=request.reason,
    )
    return request


def _counts(plan: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        part: {label: entry["count"] for label, entry in groups.items()}
        for part, groups in plan.items()
    }


def _locked_planned(actor: Any, request: ErasureRequest) -> ErasureRequest:
    require(actor, Action.MANAGE, request.workspace)
    locked = ErasureRequest.objects.select_for_update().get(pk=request.pk)
    if locked.status != ErasureStatus.PLANNED:
        raise Conflict(
            f"This request is {locked.get_status_display().lower()}, not awaiting approval."
        )
    return locked


@transaction.atomic
def erasure_request_approve(
    *, actor: Any, request: ErasureRequest, reason: str = ""
) -> ErasureRequest:
    """Four eyes: another owner or admin of the workspace (or an operator) approves; the worker
    then erases. The requester can't approve their own request."""
    locked = _locked_planned(actor, request)
    principal = as_principal(actor)
    if principal.kind != "user":
        raise Forbidden("A person approves erasures.")
    if locked.requested_by_id is not None and principal.required_user.pk == locked.requested_by_id:
        raise Forbidden("Someone other than the requester must approve an erasure (four eyes).")
    locked.status = ErasureStatus.APPROVED
    locked.decided_by = principal.user
    locked.decided_at = clock.now()
    locked.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    audit_event_record(
        actor=actor,
        action="erasure.approve",
        obj=locked,
        workspace_id=locked.workspace_id,
        after={"status": locked.status},
        reason=_clean_reason(locked.workspace, reason, _subject_of(locked)),
    )
    outbox_enqueue("compliance.erasure_run", args=[locked.pk])
    return locked


@transaction.atomic
def erasure_request_reject(
    *, actor: Any, request: ErasureRequest, reason: str = ""
) -> ErasureRequest:
    """Close a request without erasing; the sealed identifiers are wiped."""
    locked = _locked_planned(actor, request)
    principal = as_principal(actor)
    clean_reason = _clean_reason(locked.workspace, reason, _subject_of(locked))
    locked.status = ErasureStatus.REJECTED
    locked.sealed_subject = ""
    locked.decided_by = principal.user
    locked.decided_at = clock.now()
    locked.save(
        update_fields=["status", "sealed_subject", "decided_by", "decided_at", "updated_at"]
    )
    audit_event_record(
        actor=actor,
        action="erasure.reject",
        obj=locked,
        workspace_id=locked.workspace_id,
        after={"status": locked.status},
        reason=clean_reason,
    )
    return locked


# --- execution (the worker) --------------------------------------------------------------------


@transaction.atomic
def erasure_claim(request_id: int) -> bool:
    """Idempotent claim: an approved request, or a running one (a redelivered message after a
    lost worker continues; every step below is safe to repeat). The claim is audited
    (`erasure.start`), so a run whose worker died is on the trail as started."""
    now = clock.now()
    claimed = ErasureRequest.objects.filter(id=request_id, status=ErasureStatus.APPROVED).update(
        status=ErasureStatus.RUNNING, started_at=now
    )
    if claimed:
        request = ErasureRequest.objects.get(pk=request_id)
        audit_event_record(
            actor=ERASURE_ACTOR,
            action="erasure.start",
            obj=request,
            workspace_id=request.workspace_id,
            after={"status": ErasureStatus.RUNNING, "started_at": now},
            reason=ERASURE_REASON,
        )
        return True
    return ErasureRequest.objects.filter(id=request_id, status=ErasureStatus.RUNNING).exists()


def erasure_execute(*, request_id: int) -> None:
    """Search again (rows written since the dry run count too), delete and scrub in batches of
    one transaction each, then write the tombstone and close the request."""
    if not erasure_claim(request_id):
        return
    request = ErasureRequest.objects.get(pk=request_id)
    subject = unseal(request.workspace_id, request.sealed_subject)
    plan = plan_for(subject)
    ErasureRequest.objects.filter(pk=request_id).update(total=plan.total, processed=0)
    deleted = {label: _delete_in_batches(request, label, ids) for label, ids in plan.delete.items()}
    scrubbed = {label: _scrub(request, subject, label, rows) for label, rows in plan.scrub.items()}
    _finish(request_id, subject, deleted, scrubbed, plan)


def _delete_in_batches(request: ErasureRequest, label: str, ids: set[int]) -> int:
    """One transaction per keyset batch, each with an `erasure.delete_batch` event listing the
    deleted ids (ids only: the event outlives the rows, so it holds nothing of the subject)."""
    target = erasure_target(label)
    model = target.model if target else None
    if model is None:
        return 0
    ordered, done = sorted(ids), 0
    for start in range(0, len(ordered), _batch_size()):
        batch = ordered[start : start + _batch_size()]
        with transaction.atomic():
            model._base_manager.filter(pk__in=batch).delete()
            PiiFingerprint.objects.filter(model_label=label, object_id__in=batch).delete()
            ErasureRequest.objects.filter(pk=request.pk).update(
                processed=F("processed") + len(batch)
            )
            _audit_deleted(request, model._meta.label_lower, batch)
        done += len(batch)
    return done


def _audit_deleted(request: ErasureRequest, object_type: str, ids: list[Any]) -> None:
    """One event per deleted batch: the model and the ids, nothing of the subject."""
    audit_event_record(
        actor=ERASURE_ACTOR,
        action="erasure.delete_batch",
        object_type=object_type,
        workspace_id=request.workspace_id,
        after={"request": request.pk, "ids": ids},
        reason=ERASURE_REASON,
    )


def _scrubbed_value(value: Any, tokens: list[str], replacement: str = REDACTED) -> Any:
    """`value` with each token replaced; JSON (trace steps, tool calls, filters) is walked by
    the PII engine's JsonWalker, strings and dict keys alike, so a token is replaced inside
    the string that holds it and two keys that scrub to the same text both survive."""
    if isinstance(value, str):
        for token in tokens:
            value = _replace_ci(value, token, replacement)
        return value
    if value is None or not tokens:
        return value

    def scrub_string(text: str, path: Any, in_key: bool) -> str:
        for token in tokens:
            text = _replace_ci(text, token, replacement)
        return text

    return JsonWalker(scrub_string, JSON_SCRUB_MAX_DEPTH, True).walk(value, (), 0)


def _replace_ci(text: str, token: str, replacement: str = REDACTED) -> str:
    lowered, needle = text.lower(), token.lower()
    out, cursor = [], 0
    index = lowered.find(needle)
    while index != -1:
        out.append(text[cursor:index])
        out.append(replacement)
        cursor = index + len(token)
        index = lowered.find(needle, cursor)
    out.append(text[cursor:])
    return "".join(out)


def _scrub(request: ErasureRequest, subject: Subject, label: str, rows: dict[int, set[str]]) -> int:
    target = erasure_target(label)
    if target is None:
        return 0
    for pk, names in sorted(rows.items()):
        with transaction.atomic():
            _scrub_row(request, subject, target, pk, names)
    return len(rows)


def _scrub_row(
    request: ErasureRequest, subject: Subject, target: ErasureTarget, pk: int, names: set[str]
) -> None:
    """Rewrite the subject's tokens in `names` of one row, with an `erasure.scrub` event that
    names the row and the fields (no values, before or after)."""
    manager = target.model._base_manager
    row = manager.select_for_update().filter(pk=pk).first()
    if row is None:
        return
    linked = PiiFingerprint.objects.filter(
        model_label=target.model_label,
        object_id=pk,
        fingerprint__in=[f["fingerprint"] for f in subject.fingerprints()],
    )
    tokens = set(linked.values_list("token", flat=True))
    changes = {}
    for name in names:
        value = getattr(row, name)
        text = json.dumps(value) if not isinstance(value, str) else value
        found = tokens | set(_tokens_in(subject, target, text))
        changes[name] = _scrubbed_value(
            value, sorted(found, key=len, reverse=True), target.replacement
        )
    manager.filter(pk=pk).update(**changes)
    linked.delete()
    ErasureRequest.objects.filter(pk=request.pk).update(processed=F("processed") + 1)
    audit_event_record(
        actor=ERASURE_ACTOR,
        action="erasure.scrub",
        object_type=target.model._meta.label_lower,
        object_id=str(pk),
        workspace_id=request.workspace_id,
        after={"request": request.pk, "fields": sorted(names)},
        reason=ERASURE_REASON,
    )


def _delete_leftover_fingerprints(request: ErasureRequest, subject: Subject) -> None:
    """The subject's fingerprints the batches did not take (those of a deleted memory's
    versions, or of rows already gone), on record like the batches: ids only."""
    leftover = sorted(
        PiiFingerprint.objects.filter(
            workspace_id=request.workspace_id,
            fingerprint__in=[f["fingerprint"] for f in subject.fingerprints()],
        ).values_list("pk", flat=True)
    )
    for start in range(0, len(leftover), _batch_size()):
        batch = leftover[start : start + _batch_size()]
        PiiFingerprint.objects.filter(pk__in=batch).delete()
        _audit_deleted(request, PiiFingerprint._meta.label_lower, batch)


@transaction.atomic
def _finish(
    request_id: int,
    subject: Subject,
    deleted: dict[str, int],
    scrubbed: dict[str, int],
    plan: Plan,
) -> None:
    request = ErasureRequest.objects.select_for_update().get(pk=request_id)
    _delete_leftover_fingerprints(request, subject)
    result = {
        "deleted": deleted,
        "scrubbed": scrubbed,
        "kept": {label: len(ids) for label, ids in plan.kept.items() if ids},
        "legacy_tokens": {label: len(ids) for label, ids in plan.legacy_tokens.items() if ids},
    }
    event = audit_event_record(
        actor=ERASURE_ACTOR,
        action="erasure.tombstone",
        obj=request,
        workspace_id=request.workspace_id,
        after={
            "request": request.pk,
            **result,
            "identifiers": [
                f"{f['type']}:fp-{f['fingerprint'][:16]}" for f in subject.fingerprints()
            ],
        },
        reason=ERASURE_REASON,
    )
    request.status = ErasureStatus.DONE
    request.reason = str(_scrubbed_value(request.reason, subject.tokens_in(request.reason)))
    request.result = result
    request.sealed_subject = ""
    request.tombstone_event_id = event.pk
    request.finished_at = clock.now()
    request.save(
        update_fields=[
            "status",
            "reason",
            "result",
            "sealed_subject",
            "tombstone_event_id",
            "finished_at",
            "updated_at",
        ]
    )


@transaction.atomic
def erasure_fail(request_id: int, error: BaseException) -> None:
    """Keep the seal so an operator can retry after fixing the cause; say what went wrong
    (class name only: messages of database errors can quote the data). Only a running
    request fails; anything else is left as it is, without an event."""
    request = (
        ErasureRequest.objects.select_for_update()
        .filter(pk=request_id, status=ErasureStatus.RUNNING)
        .first()
    )
    if request is None:
        return
    request.status = ErasureStatus.FAILED
    request.error = type(error).__name__
    request.finished_at = clock.now()
    request.save(update_fields=["status", "error", "finished_at", "updated_at"])
    audit_event_record(
        actor=ERASURE_ACTOR,
        action="erasure.fail",
        obj=request,
        workspace_id=request.workspace_id,
        after={"status": request.status, "error": request.error},
        reason=ERASURE_REASON,
    )


def erasure_report(request: ErasureRequest) -> dict[str, Any]:
    """What the requester receives: no identifiers, only the masked label, counts and ids."""
    return {
        "request": request.pk,
        "workspace": request.workspace_id,
        "subject": request.subject_label,
        "status": request.status,
        "requested_at": request.created_at.isoformat(),
        "approved_at": request.decided_at.isoformat() if request.decided_at else None,
        "finished_at": request.finished_at.isoformat() if request.finished_at else None,
        "dry_run": request.plan,
        "result": request.result,
        "audit_tombstone_event": request.tombstone_event_id,
        "remains": _remains(request),
    }


def _remains(request: ErasureRequest) -> str:
    """What the erasure could not remove, with the counts of the run (of the dry run while the
    request has not run). Requests planned before `legacy_tokens` existed get the old words:
    their `kept` counts may include rows with the subject's tokens."""
    counts = request.result or _counts(request.plan)
    if "legacy_tokens" not in counts:
        return (
            "Audit events are append-only and kept: they hold only the masked form of the "
            "data (placeholders carry nothing; hash and encrypted tokens are counted under "
            "'kept')."
        )
    kept = sum(counts.get("kept", {}).values())
    legacy = sum(counts["legacy_tokens"].values())
    text = (
        "Audit events are append-only and kept, with only the masked form of the data. Audit "
        "events now carry placeholders instead of hash or encrypted tokens, so they can name "
        "the subject only by an external id, which the PII engine does not mask. "
        f"Kept audit events that mention the subject: {kept} (under 'kept')."
    )
    if legacy:
        text += (
            f" {legacy} of them were written before audit events dropped keyed tokens and "
            "still hold the subject's hash or encrypted tokens (under 'legacy_tokens'); they "
            "stay until the audit trail's retention prunes them."
        )
    return text
