"""Keyed fingerprints of the subject-identifying values the PII engine masks.

With the placeholder operator the value is gone from the stored text, so the link between a
data subject and a row has to be kept at masking time. `on_mask` (an observer of
apps.privacy.policies.text_mask) keeps each call's fingerprints in memory, tied to the current
transaction; `link_rows` (an observer of apps.privacy.saved.masked_rows_saved, which the
services call right after saving rows of the models registered with `register_linked_fields`)
writes a PiiFingerprint row when a saved field holds exactly that call's masked output. Both
happen inside the service's transaction, so a rollback leaves neither the row nor the link.
No post_save receiver: bulk paths send no signals, and the saving code says what it saved.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from apps.privacy.engine import EntityType, MaskResult
from apps.privacy.keyring import masking_keys

SUBJECT_TYPES = frozenset({EntityType.EMAIL, EntityType.PHONE})
EXTERNAL_ID = "EXTERNAL_ID"
MAX_PENDING = 2000


def fingerprint_of(workspace_id: int, entity_type: str, normalized: str) -> str:
    """HMAC-SHA256 under the PII hash key, bound to the workspace and a purpose of its own, so
    it never equals a `hash` operator token and means nothing in another workspace."""
    key = masking_keys().hash_key or b""
    message = f"steward-erasure\x00{workspace_id}\x00{entity_type}\x00{normalized}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass
class _Call:
    workspace_id: int
    output: str
    values: list[tuple[str, str, str]]  # (entity type, fingerprint, token)
    marker: object
    linked: set[tuple[str, str]] = field(default_factory=set)


_LOCAL = threading.local()


def _pending() -> list[_Call]:
    if not hasattr(_LOCAL, "calls"):
        _LOCAL.calls = []
    calls: list[_Call] = _LOCAL.calls
    return calls


def _live_marker() -> object | None:
    """The object registered with on_commit for this transaction; None outside one. Django
    drops on_commit callbacks on rollback (of the transaction or of the savepoint they were
    registered in), so a call whose marker is gone belongs to work that no longer exists."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    live = {id(entry[1]) for entry in connection.run_on_commit}
    current = getattr(_LOCAL, "marker", None)
    if current is not None and id(current) in live:
        return current
    marker = _Marker()
    transaction.on_commit(marker)
    _LOCAL.marker = marker
    return marker


class _Marker:
    def __call__(self) -> None:
        _LOCAL.calls = [call for call in _pending() if call.marker is not self]


def on_mask(workspace_id: int | None, result: MaskResult) -> None:
    values = [
        (
            str(item.finding.entity_type),
            item.finding.normalized or item.finding.text,
            item.replacement,
        )
        for item in result.findings
        if item.finding.entity_type in SUBJECT_TYPES
    ]
    if workspace_id is None or not values:
        return
    marker = _live_marker()
    if marker is None:
        return
    calls = _alive_calls()[-MAX_PENDING:]
    fingerprints = [
        (entity, fingerprint_of(workspace_id, entity, value), token)
        for entity, value, token in values
    ]
    calls.append(_Call(workspace_id, result.text, fingerprints, marker))
    _LOCAL.calls = calls


def _alive_calls() -> list[_Call]:
    """The pending calls whose transaction (or savepoint) still exists. One pass over the
    on-commit callbacks for all of them: asked once per call, as before, this made masking a
    batch quadratic (500 traces with a phone number each: 125,000 look-ups of the connection,
    about 0.6 s). A marker is held by its calls, so its id is not reused while they exist."""
    calls = _pending()
    if not calls:
        return []
    live = {id(entry[1]) for entry in transaction.get_connection().run_on_commit}
    return [call for call in calls if id(call.marker) in live]


# --- linking rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedFields:
    model_label: str
    fields: tuple[str, ...]


_LINKED: dict[str, LinkedFields] = {}


def register_linked_fields(model_label: str, fields: tuple[str, ...]) -> None:
    """Rows of `model_label` get fingerprints for the masked text they store in `fields`, when
    the service that saves them calls apps.privacy.saved.masked_rows_saved."""
    _LINKED[model_label] = LinkedFields(model_label, fields)


def link_rows(workspace_id: int, rows: Sequence[Any], fields: Collection[str] | None) -> None:
    """Fingerprint rows for saved `rows` (one model) whose registered `fields` hold exactly a
    pending call's masked output: an observer of apps.privacy.saved.masked_rows_saved."""
    from apps.compliance.models import PiiFingerprint

    spec = _LINKED.get(rows[0]._meta.label) if rows else None
    calls = _alive_calls() if spec is not None else []
    if spec is None or not calls:
        return
    names = [name for name in spec.fields if fields is None or name in fields]
    by_output: dict[tuple[int, str], list[_Call]] = {}
    for pending in calls:
        by_output.setdefault((pending.workspace_id, pending.output), []).append(pending)
    links: list[PiiFingerprint] = []
    for instance in rows:
        for name in names:
            call = _first_unlinked(
                by_output, workspace_id, getattr(instance, name), (spec.model_label, name)
            )
            if call is None:
                continue
            call.linked.add((spec.model_label, name))
            links.extend(
                PiiFingerprint(
                    workspace_id=workspace_id,
                    fingerprint=fingerprint,
                    entity_type=entity,
                    model_label=spec.model_label,
                    field_name=name,
                    object_id=instance.pk,
                    token=token[:300],
                )
                for entity, fingerprint, token in call.values
            )
    if links:
        PiiFingerprint.objects.bulk_create(links)


def _first_unlinked(
    by_output: dict[tuple[int, str], list[_Call]],
    workspace_id: int,
    value: Any,
    where: tuple[str, str],
) -> _Call | None:
    """The oldest pending call of the workspace whose masked output is `value` and that has no
    link for this field yet (calls indexed by output: one look-up per saved field, not a walk
    over every pending call)."""
    if not isinstance(value, str) or not value:
        return None
    for call in by_output.get((workspace_id, value), ()):
        if where not in call.linked:
            return call
    return None
