"""Ingesting traces, feedback and outcomes: in batches, one transaction per batch.

Every batch answers item by item, in the order sent (docs/signals.md, "Batches"): `created`
with the new row's id, `existing` (an outcome whose idempotency key the workspace already
holds: the same event sent twice counts once) with that row's id, or `rejected` with a `code`,
a `message` and the offending `fields`. A bad item never stops the others: the valid ones are
stored in one bulk insert, with one audit event for the batch. A batch that is unusable as a
whole (not a list, empty, too long, a workspace the caller may not write) is one 400.

Codes: `invalid` (a field is missing or wrong), `unknown_trace` (the trace is not one of the
workspace's: unknown and another workspace's look the same, so nothing leaks; for an agent's
feedback, not one of its own traces), `unknown_reference` (a context assembly or policy version
not of the workspace), `forbidden` (an agent giving feedback as a person). The single-item
endpoints answer these as 400, 404, 404 and 403.

Every free-text field is masked before it is stored; contacts and accounts are stored as
keyed HMAC-SHA256 digests; the idempotency key as an HMAC digest keyed from SECRET_KEY.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime

from apps.audit.services import audit_event_record
from apps.core import clock
from apps.core.exceptions import Forbidden, NotFound, ServiceError, ValidationFailed
from apps.memories.models import ContextAssembly
from apps.policies.models import ArtifactVersion
from apps.privacy.engine import Masker, PIIInputError
from apps.privacy.engine.json_walk import JsonWalker
from apps.privacy.keyring import masking_keys
from apps.privacy.policies import field_mask, identifier_screen, policy_for
from apps.signals.learning import feedback_learn
from apps.signals.models import (
    Feedback,
    FeedbackKind,
    Outcome,
    OutcomeKind,
    Trace,
    TraceStatus,
)
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action

MAX_TEXT = 50_000
MAX_JSON_BYTES = 256 * 1024
MAX_KEY = 255
CLEAN_CACHE_MAX_CHARS = 200  # only short strings (keys, tool names) are remembered
KEY_SALT = "steward.signals.outcome-key"
CURRENCY = re.compile(r"^[A-Z]{3}$")
SLUG = re.compile(r"^[a-z][a-z0-9]*([-_][a-z0-9]+)*$")
MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._:/+-]*$")

TRACE_KEYS = frozenset(
    {
        "task",
        "task_kind",
        "steps",
        "tool_calls",
        "output",
        "model_name",
        "tokens_in",
        "tokens_out",
        "cost",
        "latency_ms",
        "status",
        "started_at",
        "ended_at",
        "context_assembly",
        "policy_versions",
        "experiment_assignments",
        "agent",
    }
)
FEEDBACK_KEYS = frozenset({"trace", "kind", "thumbs", "rating", "explanation", "edited_output"})
OUTCOME_KEYS = frozenset(
    {
        "idempotency_key",
        "kind",
        "custom_kind",
        "trace",
        "account",
        "contact",
        "experiment_unit",
        "from_stage",
        "to_stage",
        "amount",
        "currency",
        "occurred_at",
    }
)


def max_batch() -> int:
    return int(getattr(settings, "SIGNALS_MAX_BATCH", 1000))


class ItemRejected(ServiceError):
    """One item of a batch is refused; `code` says why (see the module docstring)."""

    def __init__(self, code: str, message: str, fields: Mapping[str, Sequence[str]]) -> None:
        super().__init__(message, fields=fields)
        self.code = code


@dataclass
class BatchResult:
    items: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item["status"] == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.count("created"),
            "existing": self.count("existing"),
            "rejected": self.count("rejected"),
            "items": self.items,
        }


# --- field checks -------------------------------------------------------------------------------


def _invalid(name: str, message: str) -> ItemRejected:
    return ItemRejected("invalid", f"{name}: {message}", {name: [message]})


def _text(spec: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = spec.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _invalid(name, "Must be a string.")
    if "\x00" in value:
        raise _invalid(name, "NUL characters are not allowed.")
    if required and not value.strip():
        raise _invalid(name, "Required.")
    if len(value) > MAX_TEXT:
        raise _invalid(name, f"At most {MAX_TEXT} characters.")
    return value


def _identifier(
    spec: Mapping[str, Any], name: str, limit: int, workspace: Workspace, pattern: re.Pattern[str]
) -> str:
    value = _text(spec, name)
    if len(value) > limit:
        raise _invalid(name, f"At most {limit} characters.")
    if value and not pattern.match(value):
        raise _invalid(name, f"Must match {pattern.pattern}.")
    if value:
        try:
            identifier_screen(workspace, name, value)
        except ValidationFailed:
            raise _invalid(name, "Contains personal data: use an identifier.") from None
    return value


def _int(spec: Mapping[str, Any], name: str, *, default: int | None = 0) -> int | None:
    value = spec.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, "Must be an integer.")
    if not 0 <= value <= 2_000_000_000:
        raise _invalid(name, "Must be between 0 and 2000000000.")
    return value


def _decimal(spec: Mapping[str, Any], name: str, *, places: int, digits: int) -> Decimal | None:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid(name, "Must be a number.")
    try:
        number = Decimal(str(value))
        if number.is_finite():
            number = number.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:
        raise _invalid(name, "Must be a number.") from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** (digits - places):
        raise _invalid(name, f"Must be a finite number below 10^{digits - places}.")
    return number


def _datetime(
    spec: Mapping[str, Any], name: str, now: dt.datetime, *, required: bool
) -> dt.datetime | None:
    value = spec.get(name)
    if value in (None, ""):
        if required:
            raise _invalid(name, "Required (an ISO 8601 date and time).")
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _invalid(name, "Must be an ISO 8601 date and time.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:  # stored in UTC: PostgreSQL refuses offsets past 15:59 that ISO 8601 allows
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise _invalid(name, "Out of range.") from None


def _required_datetime(spec: Mapping[str, Any], name: str, now: dt.datetime) -> dt.datetime:
    value = _datetime(spec, name, now, required=True)
    if value is None:  # never: a required date raised above
        raise _invalid(name, "Required.")
    return value


def _choice(spec: Mapping[str, Any], name: str, choices: Sequence[str], default: str = "") -> str:
    value = spec.get(name, default)
    if value not in choices:
        raise _invalid(name, f"One of: {', '.join(choices)}.")
    return str(value)


def _json(spec: Mapping[str, Any], name: str, kinds: tuple[type, ...], default: Any) -> Any:
    value = spec.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kinds):
        raise _invalid(name, "Must be a " + " or ".join(k.__name__ for k in kinds) + ".")
    text = json.dumps(value, default=str)
    if len(text) > MAX_JSON_BYTES:
        raise _invalid(name, f"At most {MAX_JSON_BYTES} bytes of JSON.")
    return _without_nul(value) if "\\u0000" in text else value


def _without_nul(value: Any) -> Any:
    """PostgreSQL's jsonb can't hold U+0000: it is stored as U+FFFD (the replacement
    character) in the JSON fields, where a client's tool output may carry one."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _unknown_keys(spec: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ItemRejected(
            "invalid",
            f"Unknown field(s): {', '.join(extra)}.",
            {name: ["Unknown field."] for name in extra},
        )


def _masked_text(workspace: Workspace, model: Any, name: str, value: str) -> str:
    if not value:
        return value
    try:
        return field_mask(workspace, model, name, value)
    except ValidationFailed as exc:
        raise ItemRejected("invalid", exc.message, exc.fields) from None


class JsonMasker:
    """Masks a batch's JSON documents (steps, tool calls, assignments) with the workspace's
    policy, one placeholder numbering per document as `json_mask` does, remembering the
    strings found clean: detection is deterministic for one policy, so a key such as
    "thought" or "arguments" that recurs in every trace of a batch is scanned once. Strings
    with findings are masked again in each document (their numbering is per document)."""

    def __init__(self, workspace: Workspace) -> None:
        self.policy = policy_for(workspace)
        self.keys = masking_keys()
        self.clean: set[str] = set()

    def mask(self, name: str, value: Any) -> Any:
        if value in (None, [], {}):
            return value
        masker = Masker(self.policy, self.keys)

        def mask_string(text: str, path: Any, in_key: bool) -> str:
            if text in self.clean:
                return text
            masked, findings = masker.mask(text)
            if not findings and len(text) <= CLEAN_CACHE_MAX_CHARS and len(self.clean) < 50_000:
                self.clean.add(text)
            return masked

        walker = JsonWalker(mask_string, self.policy.max_json_depth, self.policy.mask_json_keys)
        try:
            return walker.walk(value, (), 0)
        except PIIInputError as exc:
            raise _invalid(name, str(exc)) from None


def subject_hash(kind: str, value: str) -> str:
    """A contact's or account's keyed hash: HMAC-SHA256 with the PII hash key over the kind
    and the trimmed, lower-cased value. The same address gives the same hash; none is kept."""
    key = masking_keys().hash_key or b""
    normalized = value.strip().lower()
    return hmac.new(key, f"{kind}\x00{normalized}".encode(), hashlib.sha256).hexdigest()


def outcome_key_digest(raw: str) -> str:
    return salted_hmac(KEY_SALT, raw, algorithm="sha256").hexdigest()


# --- the writer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Writer:
    principal: Principal
    workspace: Workspace

    @property
    def agent(self) -> Agent | None:
        return self.principal.agent

    @property
    def user(self) -> Any:
        return self.principal.user


def writer_for(actor: Any, workspace: Workspace | int | None) -> Writer:
    """Agents write to their own workspace; people need the edit role on the workspace they
    name; the system (demo, benchmarks) writes where it is told."""
    principal = as_principal(actor)
    if principal.kind == "agent":
        agent = principal.required_agent
        given = workspace.pk if isinstance(workspace, Workspace) else workspace
        if given not in (None, agent.workspace_id):
            raise ValidationFailed(
                "Agents write to their own workspace.", fields={"workspace": ["Omit."]}
            )
        return Writer(principal, agent.workspace)
    if workspace is None:
        raise ValidationFailed("Name the workspace.", fields={"workspace": ["Required."]})
    pk = workspace.pk if isinstance(workspace, Workspace) else workspace
    if isinstance(pk, bool) or not isinstance(pk, int):
        raise ValidationFailed("workspace must be an id.", fields={"workspace": ["An integer."]})
    found = Workspace.objects.visible_to(principal, Action.VIEW).filter(pk=pk).first()
    if found is None:
        raise NotFound("Unknown workspace, or not one you may see.")
    if not Workspace.objects.visible_to(principal, Action.EDIT).filter(pk=pk).exists():
        raise Forbidden("Writing signals needs the editor role (or higher) in the workspace.")
    return Writer(principal, found)


def _checked_items(items: object) -> list[Any]:
    if not isinstance(items, list) or not items:
        raise ValidationFailed("items must be a non-empty list.", fields={"items": ["Required."]})
    if len(items) > max_batch():
        raise ValidationFailed(
            f"At most {max_batch()} items per batch (got {len(items)}).",
            fields={"items": ["Too many."]},
        )
    return items


def _trace_ids(items: list[Any]) -> set[int]:
    return {
        spec["trace"]
        for spec in items
        if isinstance(spec, Mapping)
        and isinstance(spec.get("trace"), int)
        and not isinstance(spec.get("trace"), bool)
    }


def _trace_ref(spec: Mapping[str, Any], known: Mapping[int, Any], *, required: bool) -> Any:
    value = spec.get("trace")
    if value is None:
        if required:
            raise _invalid("trace", "Required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("trace", "Must be a trace id.")
    found = known.get(value)
    if found is None:
        message = f"Trace {value} is not a trace of this workspace (unknown, or another's)."
        raise ItemRejected("unknown_trace", message, {"trace": [message]})
    return found


def _run(
    items: list[Any],
    build: Callable[[Mapping[str, Any]], Any],
) -> tuple[list[tuple[int, Any]], BatchResult]:
    """Build each item's row; a refusal is recorded against its index, the rest go on."""
    result = BatchResult()
    rows = []
    for index, spec in enumerate(items):
        try:
            if not isinstance(spec, Mapping):
                raise ItemRejected("invalid", "Each item must be an object.", {})
            rows.append((index, build(spec)))
            result.items.append({"index": index, "status": "pending"})
        except ItemRejected as exc:
            result.items.append(
                {
                    "index": index,
                    "status": "rejected",
                    "code": exc.code,
                    "message": exc.message,
                    "fields": {name: list(errors) for name, errors in exc.fields.items()},
                }
            )
    return rows, result


def _audit(writer: Writer, action: str, result: BatchResult, ids: list[int]) -> None:
    """One event per batch that stored something (the rows are records: see apps.py)."""
    if not ids:
        return
    audit_event_record(
        actor=writer.principal,
        action=action,
        object_type="workspaces.workspace",
        object_id=str(writer.workspace.pk),
        workspace_id=writer.workspace.pk,
        after={
            "created": result.count("created"),
            "existing": result.count("existing"),
            "rejected": result.count("rejected"),
            "first_id": min(ids) if ids else None,
            "last_id": max(ids) if ids else None,
        },
    )


# --- traces -------------------------------------------------------------------------------------


def _trace_builder(writer: Writer, items: list[Any], now: dt.datetime) -> Callable[..., Trace]:
    ws = writer.workspace
    assembly_ids = {s.get("context_assembly") for s in items if isinstance(s, Mapping)}
    assemblies = set(
        ContextAssembly.objects.filter(
            workspace_id=ws.pk, pk__in=[i for i in assembly_ids if isinstance(i, int)]
        ).values_list("pk", flat=True)
    )
    version_ids = {
        v
        for s in items
        if isinstance(s, Mapping) and isinstance(s.get("policy_versions"), list)
        for v in s["policy_versions"]
        if isinstance(v, int)
    }
    versions = {
        row["pk"]: row
        for row in ArtifactVersion.objects.filter(
            artifact__workspace_id=ws.pk, pk__in=version_ids
        ).values("pk", "number", "artifact__name", "artifact__kind")
    }
    json_masker = JsonMasker(ws)
    agents: dict[int, Agent] = {}
    if writer.agent is None:
        agent_ids = {s.get("agent") for s in items if isinstance(s, Mapping)}
        agents = {
            a.pk: a
            for a in Agent.objects.filter(
                workspace_id=ws.pk, pk__in=[i for i in agent_ids if isinstance(i, int)]
            )
        }

    def build(spec: Mapping[str, Any]) -> Trace:
        _unknown_keys(spec, TRACE_KEYS)
        if writer.agent is not None:
            if spec.get("agent") not in (None, writer.agent.pk):
                raise _invalid("agent", "Agents post their own traces: omit it.")
            agent = writer.agent
        else:
            found = agents.get(spec.get("agent"))  # type: ignore[arg-type]
            if found is None:
                raise _invalid("agent", "Required: an agent of the workspace.")
            agent = found
        started = _required_datetime(spec, "started_at", now)
        ended = _datetime(spec, "ended_at", now, required=False)
        if ended is not None and started is not None and ended < started:
            raise _invalid("ended_at", "Is before started_at.")
        assembly = spec.get("context_assembly")
        if assembly is not None and assembly not in assemblies:
            message = f"Context assembly {assembly} is not one of this workspace's."
            raise ItemRejected("unknown_reference", message, {"context_assembly": [message]})
        refs = _json(spec, "policy_versions", (list,), [])
        used = []
        for ref in refs:
            row = versions.get(ref) if isinstance(ref, int) else None
            if row is None:
                message = f"Policy version {ref!r} is not one of this workspace's."
                raise ItemRejected("unknown_reference", message, {"policy_versions": [message]})
            used.append(
                {
                    "id": row["pk"],
                    "artifact": row["artifact__name"],
                    "kind": row["artifact__kind"],
                    "version": row["number"],
                }
            )
        steps = _json(spec, "steps", (list,), [])
        tool_calls = _json(spec, "tool_calls", (list,), [])
        assignments = _json(spec, "experiment_assignments", (dict,), None)
        cost = _decimal(spec, "cost", places=6, digits=14)
        if cost is not None and cost < 0:
            raise _invalid("cost", "Must not be negative.")
        return Trace(
            workspace_id=ws.pk,
            agent=agent,
            task=_masked_text(ws, Trace, "task", _text(spec, "task", required=True)),
            task_kind=_identifier(spec, "task_kind", 60, ws, SLUG),
            steps=json_masker.mask("steps", steps),
            tool_calls=json_masker.mask("tool_calls", tool_calls),
            output=_masked_text(ws, Trace, "output", _text(spec, "output")),
            model_name=_identifier(spec, "model_name", 100, ws, MODEL_NAME),
            tokens_in=_int(spec, "tokens_in") or 0,
            tokens_out=_int(spec, "tokens_out") or 0,
            cost=cost or Decimal(0),
            latency_ms=_int(spec, "latency_ms", default=None),
            status=_choice(spec, "status", TraceStatus.values),
            started_at=started,
            ended_at=ended,
            context_assembly_id=assembly,
            policy_versions=used,
            experiment_assignments=json_masker.mask("experiment_assignments", assignments),
            created_at=now,
        )

    return build


@transaction.atomic
def traces_ingest(*, actor: Any, items: object, workspace: Any = None) -> BatchResult:
    """Store a batch of traces (agents: their own runs). See the module docstring."""
    writer = writer_for(actor, workspace)
    if writer.principal.kind == "user":
        raise Forbidden("Traces are posted by agents (or the system), not people.")
    checked = _checked_items(items)
    now = clock.now()
    rows, result = _run(checked, _trace_builder(writer, checked, now))
    created = Trace.objects.bulk_create([row for _, row in rows])
    for (index, _), row in zip(rows, created, strict=True):
        result.items[index] = {"index": index, "status": "created", "id": row.pk}
    _audit(writer, "signals.traces_ingest", result, [row.pk for row in created])
    from apps.guardrails.breakers import breakers_enqueue

    breakers_enqueue(workspace_id=writer.workspace.pk, agent_ids={r.agent_id for r in created})
    return result


# --- feedback -----------------------------------------------------------------------------------


def edit_diff(before: str, after: str) -> str:
    """A unified diff of the output and its edit, line by line (the stored texts, masked)."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile="output",
        tofile="edited",
        lineterm="\n",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _thumbs(spec: Mapping[str, Any]) -> int | None:
    value = spec.get("thumbs")
    mapping = {"up": 1, "down": -1, 1: 1, -1: -1, None: None}
    if isinstance(value, bool) or value not in mapping:
        raise _invalid("thumbs", 'One of "up", "down", 1, -1.')
    return mapping[value]


@transaction.atomic
def feedback_ingest(*, actor: Any, items: object, workspace: Any = None) -> BatchResult:
    """Store a batch of feedback. People give `user` feedback; agents relay an end customer's
    (`end_customer`) or a verifier's (`verifier`) on their own traces."""
    writer = writer_for(actor, workspace)
    checked = _checked_items(items)
    now = clock.now()
    ws = writer.workspace
    traces = Trace.objects.filter(workspace_id=ws.pk, pk__in=_trace_ids(checked))
    if writer.agent is not None:
        traces = traces.filter(agent_id=writer.agent.pk)
    known = {t.pk: t for t in traces.only("pk", "output", "workspace_id")}
    default_kind = FeedbackKind.END_CUSTOMER if writer.agent is not None else FeedbackKind.USER

    def build(spec: Mapping[str, Any]) -> Feedback:
        _unknown_keys(spec, FEEDBACK_KEYS)
        trace = _trace_ref(spec, known, required=True)
        kind = _choice(spec, "kind", FeedbackKind.values, default=default_kind)
        if kind == FeedbackKind.USER and writer.agent is not None:
            message = "Agents relay an end customer's or a verifier's feedback, not a person's."
            raise ItemRejected("forbidden", message, {"kind": [message]})
        thumbs = _thumbs(spec)
        rating = _int(spec, "rating", default=None)
        if rating is not None and not 1 <= rating <= 5:
            raise _invalid("rating", "From 1 to 5.")
        explanation = _masked_text(ws, Feedback, "explanation", _text(spec, "explanation"))
        edited = _masked_text(ws, Feedback, "edited_output", _text(spec, "edited_output"))
        if thumbs is None and rating is None and not explanation.strip() and not edited:
            raise ItemRejected(
                "invalid",
                "Give thumbs, a rating, an explanation or an edited output.",
                {"thumbs": ["One of these is required."]},
            )
        return Feedback(
            workspace_id=ws.pk,
            trace=trace,
            kind=kind,
            given_by=writer.user,
            reported_by_agent=writer.agent,
            thumbs=thumbs,
            rating=rating,
            explanation=explanation,
            edited_output=edited,
            diff=edit_diff(trace.output, edited) if edited else "",
            created_at=now,
        )

    rows, result = _run(checked, build)
    created = Feedback.objects.bulk_create([row for _, row in rows])
    for (index, _), row in zip(rows, created, strict=True):
        result.items[index] = {"index": index, "status": "created", "id": row.pk}
    _audit(writer, "signals.feedback_ingest", result, [row.pk for row in created])
    if created:
        feedback_learn(actor=writer.principal, workspace=ws, feedback=created)
    return result


# --- outcomes -----------------------------------------------------------------------------------


def _idempotency_key(spec: Mapping[str, Any]) -> str:
    raw = spec.get("idempotency_key")
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_KEY:
        raise _invalid("idempotency_key", f"Required: 1 to {MAX_KEY} characters.")
    if not all(" " <= ch <= "~" for ch in raw):
        raise _invalid("idempotency_key", "Printable ASCII only (a UUID is the usual choice).")
    return outcome_key_digest(raw)


@transaction.atomic
def outcomes_ingest(*, actor: Any, items: object, workspace: Any = None) -> BatchResult:
    """Store a batch of outcome events. Each names a trace of the workspace and/or an account
    or contact; a key the workspace already holds answers `existing` with the stored row."""
    writer = writer_for(actor, workspace)
    checked = _checked_items(items)
    now = clock.now()
    ws = writer.workspace
    known = {
        pk: pk
        for pk in Trace.objects.filter(workspace_id=ws.pk, pk__in=_trace_ids(checked)).values_list(
            "pk", flat=True
        )
    }

    def build(spec: Mapping[str, Any]) -> Outcome:
        _unknown_keys(spec, OUTCOME_KEYS)
        key = _idempotency_key(spec)
        kind = _choice(spec, "kind", OutcomeKind.values)
        trace_id = _trace_ref(spec, known, required=False)
        account = _text(spec, "account")
        contact = _text(spec, "contact")
        unit = _text(spec, "experiment_unit")
        for name, value in (("account", account), ("contact", contact), ("experiment_unit", unit)):
            if len(value) > MAX_KEY:
                raise _invalid(name, f"At most {MAX_KEY} characters.")
        if trace_id is None and not account.strip() and not contact.strip():
            raise ItemRejected(
                "invalid",
                "Name a trace, an account or a contact.",
                {"trace": ["One of trace, account, contact is required."]},
            )
        custom = _identifier(spec, "custom_kind", 60, ws, SLUG)
        if kind == OutcomeKind.CUSTOM and not custom:
            raise _invalid("custom_kind", "Required for a custom outcome.")
        from_stage = _identifier(spec, "from_stage", 60, ws, SLUG)
        to_stage = _identifier(spec, "to_stage", 60, ws, SLUG)
        if kind == OutcomeKind.STAGE_MOVE and not to_stage:
            raise _invalid("to_stage", "Required for a stage move.")
        amount = _decimal(spec, "amount", places=4, digits=14)
        currency = _text(spec, "currency").strip().upper()
        if kind == OutcomeKind.SPEND and amount is None:
            raise _invalid("amount", "Required for spend.")
        if amount is not None and not CURRENCY.match(currency):
            raise _invalid("currency", "Required with an amount: an ISO 4217 code (EUR).")
        return Outcome(
            workspace_id=ws.pk,
            trace_id=trace_id,
            reported_by_agent=writer.agent,
            reported_by_user=writer.user,
            kind=kind,
            custom_kind=custom,
            account_hash=subject_hash("account", account) if account.strip() else "",
            contact_hash=subject_hash("contact", contact) if contact.strip() else "",
            experiment_unit_hash=subject_hash("unit", unit) if unit.strip() else "",
            from_stage=from_stage,
            to_stage=to_stage,
            amount=amount,
            currency=currency if amount is not None else "",
            occurred_at=_required_datetime(spec, "occurred_at", now),
            idempotency_key=key,
            created_at=now,
        )

    rows, result = _run(checked, build)
    fresh: dict[str, Outcome] = {}
    for _, row in rows:
        fresh.setdefault(row.idempotency_key, row)
    created = _outcomes_insert(list(fresh.values()))
    missing = set(fresh) - set(created)
    existing = dict(
        Outcome.objects.filter(workspace_id=ws.pk, idempotency_key__in=missing).values_list(
            "idempotency_key", "pk"
        )
    )
    claimed: set[str] = set()
    created_ids = []
    for index, row in rows:
        key = row.idempotency_key
        first = key in created and key not in claimed
        claimed.add(key)
        pk = created[key] if key in created else existing[key]
        if first:
            created_ids.append(pk)
        result.items[index] = {
            "index": index,
            "status": "created" if first else "existing",
            "id": pk,
        }
    _audit(writer, "signals.outcomes_ingest", result, created_ids)
    from apps.guardrails.breakers import signals_outcomes_stored

    stored = [(row, checked[i]) for i, row in rows if result.items[i]["status"] == "created"]
    signals_outcomes_stored(actor=writer.principal, workspace=ws, stored=stored)
    return result


OUTCOME_COLUMNS = (
    ("workspace_id", "bigint"),
    ("trace_id", "bigint"),
    ("reported_by_agent_id", "bigint"),
    ("reported_by_user_id", "integer"),
    ("kind", "text"),
    ("custom_kind", "text"),
    ("account_hash", "text"),
    ("contact_hash", "text"),
    ("experiment_unit_hash", "text"),
    ("from_stage", "text"),
    ("to_stage", "text"),
    ("amount", "numeric"),
    ("currency", "text"),
    ("occurred_at", "timestamptz"),
    ("idempotency_key", "text"),
    ("created_at", "timestamptz"),
)


def _outcomes_insert(rows: list[Outcome]) -> dict[str, int]:
    """One INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING for the batch (Django's
    bulk_create compiles one placeholder per value: half the time of a 1,000-event batch).
    Returns key -> id of the rows inserted; a key already stored (or stored meanwhile by a
    concurrent batch) is left out."""
    if not rows:
        return {}
    names = [name for name, _ in OUTCOME_COLUMNS]
    arrays = [[getattr(row, name) for row in rows] for name in names]
    unnest = ", ".join(f"%s::{kind}[]" for _, kind in OUTCOME_COLUMNS)
    sql = (
        f"INSERT INTO {Outcome._meta.db_table} ({', '.join(names)}) "  # noqa: S608
        f"SELECT * FROM unnest({unnest}) "
        "ON CONFLICT (workspace_id, idempotency_key) DO NOTHING "
        "RETURNING idempotency_key, id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return dict(cursor.fetchall())


INGESTERS = {"traces": traces_ingest, "feedback": feedback_ingest, "outcomes": outcomes_ingest}


@transaction.atomic
def ingest_one(kind: str, *, actor: Any, item: object, workspace: Any = None) -> dict[str, Any]:
    """One item through the batch path; a rejection is a 400 naming the fields."""
    result = INGESTERS[kind](actor=actor, items=[item], workspace=workspace)
    answer = result.items[0]
    if answer["status"] == "rejected":
        fields = answer["fields"] or {"item": ["Invalid."]}
        if answer["code"] == "forbidden":
            raise Forbidden(answer["message"], fields=fields)
        if answer["code"] in ("unknown_trace", "unknown_reference"):
            raise NotFound(answer["message"], fields=fields)
        raise ValidationFailed(answer["message"], fields=fields)
    return answer
