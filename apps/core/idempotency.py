"""`Idempotency-Key` on API writes: a retry gets the first answer and the write runs once.

Write handlers are marked `@idempotent`. For a request that carries the header:
1. claim: the record is inserted in its own short transaction, unique per (principal, key), so
   a concurrent duplicate fails the insert instead of running the service too;
2. the handler runs and its answer is stored in one transaction, with the record row locked:
   the change and its stored answer commit together, or neither does;
3. refusals (4xx) are stored as well, so a retry gets the same answer; a server error (5xx)
   releases the key, so a retry runs again.

A retry with the same method, path and body gets the stored status and body with
`Idempotent-Replayed: true`; the same key with a different request is a 409, and so is a
duplicate that arrives while the first is still running. Records expire after
IDEMPOTENCY_TTL_HOURS (swept by the `core.idempotency_expire` beat task).

The key itself is never stored: clients put anything in it (an order number, an address), so
the record holds `key_digest(key)`, an HMAC-SHA256 keyed from SECRET_KEY (Django's
salted_hmac with its own salt): equal keys still meet on the unique constraint, and the table
tells nothing about the keys without SECRET_KEY. After a SECRET_KEY rotation the old key,
kept in SECRET_KEY_FALLBACKS, still finds records written before it. Refusals (4xx) can quote
what was sent, so their stored body and the path are masked with the default PII policy.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http.request import RawPostDataException
from django.utils import timezone
from django.utils.crypto import salted_hmac
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.exceptions import Conflict, ServiceError
from apps.core.models import IdempotencyRecord
from apps.workspaces.principal import Principal, as_principal

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_SALT = "steward.core.idempotency-key"
# An in-flight record this old belongs to a request that died before answering (its change was
# rolled back with it, see run_claimed), so a retry may take the key over.
ABANDONED_AFTER = dt.timedelta(minutes=5)
CLAIM_ATTEMPTS = 3

Handler = Callable[..., Response]


class IdempotencyKeyInvalid(ServiceError):
    status_code = 400
    code = "invalid_idempotency_key"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"


@dataclass(frozen=True)
class Claim:
    record: IdempotencyRecord
    replay: Response | None = None


def ttl() -> dt.timedelta:
    return dt.timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)


def validated_key(raw: str) -> str:
    """1-255 printable ASCII characters (a UUID is the usual choice)."""
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in raw):
        message = (
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, "
            "for example a UUID."
        )
        raise IdempotencyKeyInvalid(message, fields={HEADER: [message]})
    return raw


def key_digest(raw: str, *, secret: str | None = None) -> str:
    """What is stored for an Idempotency-Key: 64 hex characters (the column holds 255)."""
    return salted_hmac(KEY_SALT, raw, secret=secret, algorithm="sha256").hexdigest()


def _fallback_digests(raw: str) -> list[str]:
    return [key_digest(raw, secret=old) for old in getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _masked(text: str) -> str:
    """Masked with the default policy: records belong to a principal, not one workspace."""
    from apps.privacy.engine import DEFAULT_POLICY, PIIInputError, text_mask

    try:
        return text_mask(text, DEFAULT_POLICY).text
    except PIIInputError:
        return ""


def request_fingerprint(request: Request) -> str:
    """SHA-256 of method, full path and body: what must match for a retry to be a retry.

    The raw body is hashed when it is still readable; a browser session's CSRF check may have
    parsed it already, and then its canonical JSON stands in (the same for every retry).
    """
    try:
        body = bytes(request._request.body)
    except RawPostDataException:
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str).encode()
    digest = hashlib.sha256()
    for part in (str(request.method).encode(), request.get_full_path().encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def replay_response(record: IdempotencyRecord) -> Response:
    body = json.loads(record.response_body) if record.response_body else None
    return Response(body, status=record.status_code, headers={REPLAYED_HEADER: "true"})


def claim_key(*, principal: Principal, key: str, method: str, path: str, fingerprint: str) -> Claim:
    """Insert the record (the caller now runs the write) or answer from an existing one.

    `key` is the client's key as sent; only its digest reaches the table."""
    owner = {"principal_kind": principal.kind, "principal_id": principal.actor_id}
    identity = {**owner, "key": key_digest(key)}
    older = _fallback_digests(key)
    for _ in range(CLAIM_ATTEMPTS):
        if older:
            claim = _answer_from_older(owner, older, fingerprint)
            if claim is not None:
                return claim
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    **identity, method=method, path=_masked(path)[:2000], request_hash=fingerprint
                )
            return Claim(record)
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(**identity).first()
        if existing is None:
            continue  # swept between the insert and this read
        claim = _answer_from(existing, fingerprint)
        if claim is not None:
            return claim
    raise IdempotencyInProgress(f"A request with this {HEADER} is still being processed.")


def _answer_from_older(owner: dict[str, str], older: list[str], fingerprint: str) -> Claim | None:
    """A record written under a previous SECRET_KEY answers like one under the current key."""
    existing = IdempotencyRecord.objects.filter(Q(key__in=older), **owner).first()
    return None if existing is None else _answer_from(existing, fingerprint)


def _answer_from(existing: IdempotencyRecord, fingerprint: str) -> Claim | None:
    """A replay, a refusal, or None when the record was expired or abandoned and is now gone
    or taken over (the caller then tries again)."""
    now = timezone.now()
    if now - existing.created_at >= ttl():
        IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
        return None
    if existing.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"This {HEADER} was already used for {existing.method} {existing.path} with a "
            "different body; send a new key for a different request."
        )
    if existing.status_code is not None:
        return Claim(existing, replay=replay_response(existing))
    if now - existing.created_at < ABANDONED_AFTER:
        raise IdempotencyInProgress(
            f"A request with this {HEADER} is still being processed; retry in a moment."
        )
    # Blocks on the row lock if the first run is somehow still alive, then finds it answered.
    taken = IdempotencyRecord.objects.filter(
        pk=existing.pk, created_at=existing.created_at, status_code__isnull=True
    ).update(created_at=now)
    if taken:
        existing.created_at = now
        return Claim(existing)
    return None


def _mine(record: IdempotencyRecord) -> Any:
    return IdempotencyRecord.objects.filter(
        pk=record.pk, created_at=record.created_at, status_code__isnull=True
    )


def _store(record: IdempotencyRecord, response: Response, secret_fields: tuple[str, ...]) -> None:
    data = response.data
    if isinstance(data, dict) and secret_fields:
        data = {name: None if name in secret_fields else value for name, value in data.items()}
    body = "" if data is None else JSONRenderer().render(data).decode()
    if response.status_code >= 400:
        body = _masked(body)
    _mine(record).update(
        status_code=response.status_code, response_body=body, completed_at=timezone.now()
    )


def _release(record: IdempotencyRecord) -> None:
    _mine(record).delete()


def run_claimed(
    view: Any,
    record: IdempotencyRecord,
    call: Callable[[], Response],
    secret_fields: tuple[str, ...] = (),
) -> Response:
    """Run the write and store its answer in one transaction (see the module docstring)."""
    try:
        with transaction.atomic():
            if not list(_mine(record).select_for_update().values_list("pk", flat=True)):
                raise IdempotencyInProgress(f"Another request took over this {HEADER}.")
            response = call()
            if response.status_code < 500:
                _store(record, response, secret_fields)
    except Exception as exc:
        return _refusal(view, record, exc, secret_fields)
    if response.status_code >= 500:
        _release(record)
    return response


def _refusal(
    view: Any, record: IdempotencyRecord, exc: Exception, secret_fields: tuple[str, ...]
) -> Response:
    try:
        response: Response = view.handle_exception(exc)
    except Exception:
        _release(record)
        raise
    if response.status_code >= 500:
        _release(record)
    else:
        _store(record, response, secret_fields)
    return response


def idempotent(handler: Handler | None = None, *, secret_fields: tuple[str, ...] = ()) -> Any:
    """Mark a DRF write handler as honouring `Idempotency-Key` (no header: runs as usual).

    `secret_fields` are top-level response fields never stored at rest (a token's secret): a
    replay returns them as null, so the write still happens once and the secret stays unsaved.
    """
    if handler is None:
        return functools.partial(idempotent, secret_fields=secret_fields)
    wrapped: Handler = handler

    @functools.wraps(wrapped)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = request.headers.get(HEADER)
        if raw is None:
            return wrapped(view, request, *args, **kwargs)
        claim = claim_key(
            principal=as_principal(request.user),
            key=validated_key(raw),
            method=str(request.method),
            path=request.get_full_path(),
            fingerprint=request_fingerprint(request),
        )
        if claim.replay is not None:
            return claim.replay
        return run_claimed(
            view, claim.record, lambda: wrapped(view, request, *args, **kwargs), secret_fields
        )

    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper


def is_idempotent(handler: Any) -> bool:
    return bool(getattr(handler, "idempotent", False))


def idempotency_records_expire(*, batch_size: int = 1000, now: dt.datetime | None = None) -> int:
    """Delete records past their TTL in keyset batches, one short transaction per batch.

    Housekeeping of a cache of answers, not a governed change: no audit event.
    """
    cutoff = (now or timezone.now()) - ttl()
    deleted, last_id = 0, 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff, pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        with transaction.atomic():
            deleted += IdempotencyRecord.objects.filter(pk__in=ids, created_at__lt=cutoff).delete()[
                0
            ]
        last_id = ids[-1]


def records_of_workspace(queryset: Any, workspace_id: int) -> Any:
    """Records of the workspace's agents and members (records carry no workspace): what a
    workspace's PII re-scan walks."""
    from apps.workspaces.models import Agent, Membership

    agents = Agent.objects.filter(workspace_id=workspace_id).values_list("pk", flat=True)
    users = Membership.objects.filter(workspace_id=workspace_id).values_list("user_id", flat=True)
    return queryset.filter(
        Q(principal_kind="agent", principal_id__in=[str(pk) for pk in agents])
        | Q(principal_kind="user", principal_id__in=[str(pk) for pk in set(users)])
    )
