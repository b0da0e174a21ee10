"""Every stored text field, screened or exempt: the re-scan walks the screened ones, and a
meta-test (tests/privacy/test_field_registry.py) fails for a text field that is neither.

Each app registers its own fields in its AppConfig.ready():

    register_masked_field("memories.MemoryItem", "content")
    register_exempt_field("workspaces.AgentToken", "secret_hash", reason="SHA-256 of a secret")

A masked field is masked (or, for identifiers such as slugs and tags, refused when it holds
personal data) by every service that writes it; the re-scan (apps.privacy.rescan) masks what
slipped through earlier. An `append_only` field (the audit trail) is never bulk-updated: the
re-scan redacts its rows through the audit app (audit_event_redact) where that is allowed, and
names them otherwise. An exempt field holds no free text people or agents type:
hashes, choices, system-made names, values checked against a fixed vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.apps import apps

FieldKind = Literal["text", "json", "array"]
Scope = Callable[[Any, int], Any]


@dataclass(frozen=True)
class MaskedField:
    """`workspace_field` is the lookup that ties a row to its workspace ("pk" for the workspace
    itself, "item__workspace" through a relation); `scope(queryset, workspace_id)` replaces it
    for rows with no path to a workspace."""

    model_label: str
    field_name: str
    kind: FieldKind = "text"
    workspace_field: str = "workspace"
    scope: Scope | None = field(default=None, compare=False)
    append_only: bool = False

    @property
    def label(self) -> str:
        return f"{self.model_label}.{self.field_name}"

    @property
    def model(self) -> Any:
        return apps.get_model(self.model_label)

    def rows(self, workspace_id: int) -> Any:
        """The workspace's rows of this model (every row, whatever its status)."""
        queryset = self.model._base_manager.all()
        if self.scope is not None:
            return self.scope(queryset, workspace_id)
        return queryset.filter(**{self.workspace_field: workspace_id})


@dataclass(frozen=True)
class ExemptField:
    model_label: str
    field_name: str
    reason: str

    @property
    def label(self) -> str:
        return f"{self.model_label}.{self.field_name}"


_REGISTRY: dict[str, MaskedField] = {}
_EXEMPT: dict[str, ExemptField] = {}


def register_masked_field(
    model_label: str,
    field_name: str,
    *,
    kind: FieldKind = "text",
    workspace_field: str = "workspace",
    scope: Scope | None = None,
    append_only: bool = False,
) -> MaskedField:
    """Idempotent: registering the same field twice keeps one entry."""
    entry = MaskedField(model_label, field_name, kind, workspace_field, scope, append_only)
    if entry.label in _EXEMPT:
        raise ValueError(f"{entry.label} is registered as exempt; it can't be masked too.")
    _REGISTRY[entry.label] = entry
    return entry


def register_exempt_field(model_label: str, field_name: str, *, reason: str) -> ExemptField:
    """A text field that needs no masking, and why (the reason is shown by the meta-test)."""
    entry = ExemptField(model_label, field_name, reason.strip())
    if not entry.reason:
        raise ValueError(f"Exempting {entry.label} needs a reason.")
    if entry.label in _REGISTRY:
        raise ValueError(f"{entry.label} is registered as masked; it can't be exempt too.")
    _EXEMPT[entry.label] = entry
    return entry


def register_exempt_fields(model_label: str, field_names: tuple[str, ...], *, reason: str) -> None:
    """Several fields of one model exempt for the same reason."""
    for name in field_names:
        register_exempt_field(model_label, name, reason=reason)


def masked_fields() -> list[MaskedField]:
    """In a stable order, so a job's cursor (field label, last id) means the same on resume."""
    return [_REGISTRY[label] for label in sorted(_REGISTRY)]


def masked_field(label: str) -> MaskedField | None:
    return _REGISTRY.get(label)


def exempt_fields() -> list[ExemptField]:
    return [_EXEMPT[label] for label in sorted(_EXEMPT)]


def exempt_field(label: str) -> ExemptField | None:
    return _EXEMPT.get(label)
