"""Which stored fields hold free text or JSON that must be masked: the re-scan walks these.

Each app registers its own fields in its AppConfig.ready(), e.g.
`register_masked_field("memories.MemoryItem", "content")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from django.apps import apps

FieldKind = Literal["text", "json"]


@dataclass(frozen=True)
class MaskedField:
    model_label: str
    field_name: str
    kind: FieldKind = "text"
    workspace_field: str = "workspace"

    @property
    def label(self) -> str:
        return f"{self.model_label}.{self.field_name}"

    @property
    def model(self) -> Any:
        return apps.get_model(self.model_label)


_REGISTRY: dict[str, MaskedField] = {}


def register_masked_field(
    model_label: str,
    field_name: str,
    *,
    kind: FieldKind = "text",
    workspace_field: str = "workspace",
) -> MaskedField:
    """Idempotent: registering the same field twice keeps one entry."""
    entry = MaskedField(model_label, field_name, kind, workspace_field)
    _REGISTRY[entry.label] = entry
    return entry


def masked_fields() -> list[MaskedField]:
    """In a stable order, so a job's cursor (field label, last id) means the same on resume."""
    return [_REGISTRY[label] for label in sorted(_REGISTRY)]


def masked_field(label: str) -> MaskedField | None:
    return _REGISTRY.get(label)
