"""The canonical form of an audit event and its hash (docs/audit.md, "Canonical form").

Pure functions, no database: the chaining on write, `audit_verify` and an auditor's offline
script all compute exactly this, so it must never change silently.

    hash = sha256(utf-8 of one JSON object:
        keys sorted, no whitespace between them, strings as JSON with non-ASCII kept,
        created_at as UTC "YYYY-MM-DDTHH:MM:SS.ffffffZ",
        before / after (JSON documents) in PostgreSQL's jsonb text form, i.e. exactly what
        `SELECT before::text` prints: object keys ordered by byte length then bytes, ", "
        and ": " as separators, numbers as exact decimals without exponent)

`prev_hash` is one of the keys, which is what links each event to the one before it. Using
jsonb's own text form for the two documents lets verification read them as text and hash them
without parsing (the difference between ~20 and ~60 s per million events on two cores);
`jsonb_text` produces the same text from Python values on write.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# The same layout in PostgreSQL's to_char, so verification reads created_at ready-made.
SQL_TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def utc_timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


def _number(value: float) -> str:
    """A float as jsonb prints it: Python writes repr(value), jsonb keeps that decimal exactly
    and prints it positionally (1e-07 -> 0.0000001, 1e+20 -> 100000000000000000000)."""
    if not math.isfinite(value):
        raise ValueError(f"{value} can't be stored in the audit trail (not valid JSON).")
    text = format(decimal.Decimal(repr(value)), "f")
    return text.removeprefix("-") if value == 0 else text


def _key(key: Any) -> str:
    """Object keys as json.dumps (psycopg's adapter) writes them."""
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, float):
        return repr(key)
    return str(key)


def _jsonb_key_order(key: str) -> tuple[int, bytes]:
    encoded = key.encode()
    return (len(encoded), encoded)


def jsonb_text(value: Any) -> str:
    """`value` (JSON-ready Python data) as PostgreSQL prints it after storing it as jsonb."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    if isinstance(value, dict):
        items = {_key(key): item for key, item in value.items()}  # a repeated key: the last
        ordered = sorted(items, key=_jsonb_key_order)
        return (
            "{"
            + ", ".join(f"{encode_basestring(k)}: {jsonb_text(items[k])}" for k in ordered)
            + "}"
        )
    raise TypeError(f"{type(value).__name__} is not JSON data")


def canonical_text(
    id: int,
    seq: int,
    workspace: int | None,
    created_at: str,
    actor_kind: str,
    actor_id: str,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    before: str | None,
    after: str | None,
    reason: str,
    request_id: str,
    prev_hash: str,
    /,
) -> str:
    """The canonical JSON object, from values in the order verification selects them;
    `before` / `after` are already jsonb text (or None)."""
    s = encode_basestring
    return (
        f'{{"action":{s(action)},"actor_id":{s(actor_id)},"actor_kind":{s(actor_kind)},'
        f'"actor_label":{s(actor_label)},"after":{after or "null"},'
        f'"before":{before or "null"},"created_at":"{created_at}","id":{id},'
        f'"object_id":{s(object_id)},"object_repr":{s(object_repr)},'
        f'"object_type":{s(object_type)},"prev_hash":"{prev_hash}","reason":{s(reason)},'
        f'"request_id":{s(request_id)},"seq":{seq},'
        f'"workspace":{"null" if workspace is None else workspace}}}'
    )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event_hash(event: Any) -> str:
    """The hash of an AuditEvent instance (or a historical-model row) as it will be stored."""
    return text_hash(
        canonical_text(
            event.id,
            event.chain_seq,
            event.workspace_id,
            utc_timestamp(event.created_at),
            event.actor_kind,
            event.actor_id,
            event.actor_label,
            event.action,
            event.object_type,
            event.object_id,
            event.object_repr,
            None if event.before is None else jsonb_text(event.before),
            None if event.after is None else jsonb_text(event.after),
            event.reason,
            event.request_id,
            event.prev_hash,
        )
    )
