"""Each workspace's compiled masking policy, cached per process, and masking with it.

Masking runs on every write path (audit events, descriptions, later memories and traces), so
after the first call for a workspace no call reads the database: the compiled policy is kept
in this process. An update clears it here at once and bumps a version in Django's cache; other
processes look at that version at most once a second (VERSION_CHECK_SECONDS) and, where the
cache is not shared (locmem without Redis), drop their copy after PII_POLICY_CACHE_SECONDS.

No audit import here: apps.audit.services masks through this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from apps.core.exceptions import ValidationFailed
from apps.privacy import engine
from apps.privacy.engine import (
    DEFAULT_POLICY,
    JsonMaskResult,
    MaskingPolicy,
    MaskResult,
    PIIInputError,
)
from apps.privacy.keyring import masking_keys

VERSION_CHECK_SECONDS = 1.0


@dataclass
class _Entry:
    policy: MaskingPolicy
    version: str
    loaded_at: float
    checked_at: float


_LOCAL: dict[int, _Entry] = {}
_LOCK = threading.Lock()


def _version_key(workspace_id: int) -> str:
    return f"privacy:policy-version:{workspace_id}"


def workspace_id_of(workspace: Any) -> int | None:
    """A Workspace, its id, or None (events and texts that belong to no workspace)."""
    if workspace is None:
        return None
    if isinstance(workspace, int):
        return workspace
    return int(workspace.pk)


def _load(workspace_id: int) -> MaskingPolicy:
    from apps.privacy.models import PrivacyPolicy

    stored = PrivacyPolicy.objects.filter(workspace_id=workspace_id).first()
    return stored.to_masking_policy() if stored is not None else DEFAULT_POLICY


def _fresh(entry: _Entry, workspace_id: int, now: float) -> bool:
    if now - entry.loaded_at > settings.PII_POLICY_CACHE_SECONDS:
        return False
    if now - entry.checked_at < VERSION_CHECK_SECONDS:
        return True
    if cache.get(_version_key(workspace_id), "0") != entry.version:
        return False
    entry.checked_at = now
    return True


def policy_for(workspace: Any) -> MaskingPolicy:
    """The workspace's policy (the default one for None or a workspace without a row)."""
    workspace_id = workspace_id_of(workspace)
    if workspace_id is None:
        return DEFAULT_POLICY
    now = time.monotonic()
    entry = _LOCAL.get(workspace_id)
    if entry is not None and _fresh(entry, workspace_id, now):
        return entry.policy
    version = str(cache.get(_version_key(workspace_id), "0"))
    policy = _load(workspace_id)
    with _LOCK:
        _LOCAL[workspace_id] = _Entry(policy, version, now, now)
    return policy


def forget_policy(workspace_id: int) -> None:
    """Drop this process's copy and tell the others (called on update and on commit)."""
    with _LOCK:
        _LOCAL.pop(workspace_id, None)
    cache.set(_version_key(workspace_id), str(time.time_ns()), timeout=None)


def clear_cache() -> None:
    with _LOCK:
        _LOCAL.clear()


def on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"PII_POLICY_CACHE_SECONDS", "CACHES"}:
        clear_cache()


# Called after every successful text_mask with (workspace_id, result), e.g. by
# apps.compliance to keep keyed fingerprints of the values it masked (erasure needs them once
# a placeholder has replaced the value). Observers must not raise and must not store raw values.
MASK_OBSERVERS: list[Callable[[int | None, MaskResult], None]] = []


def text_mask(workspace: Any, text: str) -> MaskResult:
    """Mask one text with the workspace's policy. Raises PIIInputError for unusable input."""
    result = engine.text_mask(text, policy_for(workspace), masking_keys())
    if result.findings:
        for observer in MASK_OBSERVERS:
            observer(workspace_id_of(workspace), result)
    return result


def label_mask(workspace: Any, label: str, *, limit: int = 200) -> str:
    """A person's or agent's display label as stored beside a row they wrote (a username can be
    an e-mail address): masked like the audit trail's actor_label, clipped to `limit`."""
    return text_mask(workspace, label[:limit]).text[:limit]


def json_mask(workspace: Any, value: Any, *, clean: set[str] | None = None) -> JsonMaskResult:
    """Mask every string (and dict key) of a JSON value with the workspace's policy. `clean`:
    see apps.privacy.engine.json_walk.json_mask (one set per workspace and call site)."""
    return engine.json_mask(value, policy_for(workspace), masking_keys(), clean=clean)


def max_length_of(model: Any, field_name: str) -> int | None:
    """The column's character limit (of each element, for an array of text), or None."""
    field = model._meta.get_field(field_name)
    limit = getattr(field, "max_length", None)
    base = getattr(field, "base_field", None)
    if limit is None and base is not None:
        limit = getattr(base, "max_length", None)
    return int(limit) if limit is not None else None


def field_mask(
    workspace: Any, model: Any, field_name: str, text: str, *, param: str | None = None
) -> str:
    """`text` masked for `model.field_name`: the one masking step of the services.

    Masking can lengthen a value (`a@b.co` becomes `<EMAIL_1>`, a hash or an encrypted token
    is longer still), so the limit is checked on the masked text, which is what is stored:
    too long is a ValidationFailed naming `param` (the field's name in the request, default
    `field_name`), a 400 before anything is written, never a database error. Unusable input
    (PIIInputError) is refused the same way."""
    name = param or field_name
    try:
        masked = text_mask(workspace, text).text
    except PIIInputError as exc:
        raise ValidationFailed(str(exc), fields={name: [str(exc)]}) from None
    limit = max_length_of(model, field_name)
    if limit is not None and len(masked) > limit:
        message = (
            f"{name} is {len(masked)} characters once personal data in it is masked; the limit "
            f"is {limit}."
        )
        raise ValidationFailed(message, fields={name: [f"At most {limit} characters once masked."]})
    return masked


def identifier_screen(workspace: Any, field_name: str, value: str) -> str:
    """Identifiers (slugs, keys) are refused, not masked, when they hold personal data: a
    masked slug would no longer be one."""
    try:
        clean = text_mask(workspace, value).text == value
    except PIIInputError as exc:
        raise ValidationFailed(str(exc), fields={field_name: [str(exc)]}) from None
    if not clean:
        raise ValidationFailed(
            f"{field_name} is an identifier, not personal data: use another one.",
            fields={field_name: ["Contains personal data."]},
        )
    return value
