"""Where erasure searches and what retention prunes: apps plug their models in here from their
AppConfig.ready() (apps.compliance.apps registers what exists today), so traces, feedback,
outcomes and datasets join without changing the erasure or retention code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.apps import apps
from django.db.models import QuerySet

from apps.workspaces.principal import Principal

ErasureAction = Literal["delete", "scrub", "keep"]
Scope = Callable[[QuerySet[Any], int], QuerySet[Any]]


@dataclass(frozen=True)
class ErasureTarget:
    """A model whose rows may mention a data subject.

    `action`: delete the row (or its `root`: a version deletes its whole memory), scrub the
    subject's tokens out of `search_fields`, or keep it and only count it (the audit trail).
    `scope` limits rows to one workspace. `needles` adds values of the subject that only this
    model holds (signals' contact hashes); `replacement` is what a scrubbed token becomes.
    """

    model_label: str
    search_fields: tuple[str, ...]
    scope: Scope
    action: ErasureAction = "delete"
    root: tuple[str, str] | None = None  # (root model label, attname pointing at it)
    # More literal values that stand for the subject in this model only (keyed hashes of its
    # identifiers an app derives itself), from the subject (apps.compliance.subject.Subject).
    needles: Callable[[Any], list[str]] | None = None
    # What a scrubbed token becomes; "" empties a field that held only the token (a hash).
    replacement: str = "<REDACTED>"

    @property
    def model(self) -> Any:
        return apps.get_model(self.model_label)

    @property
    def root_label(self) -> str:
        return self.root[0] if self.root else self.model_label


@dataclass(frozen=True)
class RetentionTarget:
    """Rows of one kind that a workspace keeps for `keep_days`: `expired(workspace_id, cutoff)`
    selects those past it. `prune`, when given, replaces the generic keyset delete (the audit
    trail is pruned by its own chain-aware API)."""

    key: str
    title: str
    default_days: int
    expired: Callable[[int, dt.datetime], QuerySet[Any]]
    prune: Callable[[Principal, int, dt.datetime], int] | None = None
    available: Callable[[], str] = lambda: ""  # a reason when it can't run, "" when it can


_ERASURE: dict[str, ErasureTarget] = {}
_RETENTION: dict[str, RetentionTarget] = {}


def by_workspace(path: str = "workspace_id") -> Scope:
    return lambda queryset, workspace_id: queryset.filter(**{path: workspace_id})


def register_erasure_target(target: ErasureTarget) -> None:
    _ERASURE[target.model_label] = target


def erasure_targets() -> list[ErasureTarget]:
    return [_ERASURE[label] for label in sorted(_ERASURE)]


def erasure_target(label: str) -> ErasureTarget | None:
    return _ERASURE.get(label)


def register_retention_target(target: RetentionTarget) -> None:
    _RETENTION[target.key] = target


def retention_targets() -> list[RetentionTarget]:
    return [_RETENTION[key] for key in sorted(_RETENTION)]


def retention_target(key: str) -> RetentionTarget | None:
    return _RETENTION.get(key)
