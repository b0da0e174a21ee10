"""Reads of eval sets that other apps rely on."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.evals.models import EvalCase, Split


def holdout_trace_ids(workspace_id: int) -> QuerySet[EvalCase, int]:
    """The ids of the traces behind the workspace's holdout cases (retired ones too: what was
    once held out stays out), as a subquery for `.exclude(trace_id__in=...)`. Every training
    export and every few-shot example query excludes these."""
    return (
        EvalCase.objects.filter(
            eval_set__workspace_id=workspace_id, split=Split.HOLDOUT, source_trace__isnull=False
        )
        .values_list("source_trace_id", flat=True)
        .order_by()
    )
