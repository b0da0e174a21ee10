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

from apps.privacy import engine
from apps.privacy.engine import DEFAULT_POLICY, JsonMaskResult, MaskingPolicy, MaskResult
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


def json_mask(workspace: Any, value: Any) -> JsonMaskResult:
    """Mask every string (and dict key) of a JSON value with the workspace's policy."""
    return engine.json_mask(value, policy_for(workspace), masking_keys())
