"""Running a mutation under the reconciler: what changed in the governed tables, and which of
those changes no audit event accounts for (apps/audit/reconcile.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Max

from apps.audit.models import AuditEvent
from apps.audit.reconcile import changed_rows, snapshot, unaudited_changes


@dataclass(frozen=True)
class Reconciled:
    missing: list[str]
    changed: dict[str, set[Any]]

    def count(self, label: str) -> int:
        """Rows of `label` the mutation inserted, changed or deleted."""
        return len(self.changed.get(label, set()))


def reconcile(mutate: Callable[[], Any]) -> Reconciled:
    mark = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    before = snapshot()
    mutate()
    after = snapshot()
    return Reconciled(unaudited_changes(before, after, mark), changed_rows(before, after))
