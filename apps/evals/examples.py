"""Few-shot examples for the context endpoint: the calling agent's best-rated past responses to
tasks like the one it is about to do.

A candidate is a successful trace the agent may read (apps.signals scoping: its own runs, in its
workspace) with positive feedback (a rating of 4 or 5, a thumbs-up, or a person's edit: the edit
is the response shown) and no negative feedback, and never a trace behind a holdout eval case
(apps.evals.selectors.holdout_trace_ids, in the same query). Among the most recent
CANDIDATE_POOL candidates, those whose task matches the query's terms (PostgreSQL full text,
English, any term: apps.memories.ranking.text_query) rank by text rank, then rating, newest
first. Texts are stored masked (signals mask traces and feedback on write): returned as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from apps.evals.selectors import holdout_trace_ids
from apps.signals.models import Feedback, Trace, TraceStatus
from apps.workspaces.models import Agent
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

MAX_EXAMPLES = 10
CANDIDATE_POOL = 2000


@dataclass(frozen=True)
class Example:
    trace_id: int
    task: str
    response: str
    edited: bool
    rating: int | None
    similarity: float


def _candidates(agent: Agent) -> Any:
    good = Q(feedback__rating__gte=4) | Q(feedback__thumbs=1) | ~Q(feedback__edited_output="")
    bad = Q(feedback__rating__lte=2) | Q(feedback__thumbs=-1)
    return (
        Trace.objects.visible_to(as_principal(agent), Action.VIEW)
        .filter(status=TraceStatus.SUCCESS)
        .exclude(pk__in=holdout_trace_ids(agent.workspace_id))
        .annotate(good=Count("feedback", filter=good), bad=Count("feedback", filter=bad))
        .filter(good__gt=0, bad=0)
        .order_by("-id")
        .values("id")[:CANDIDATE_POOL]
    )


def few_shot_examples(*, agent: Agent, task_text: str, n: int) -> list[Example]:
    """Up to `n` examples for `task_text` (none when n is 0: no query at all)."""
    if n <= 0:
        return []
    from apps.memories.ranking import text_query

    tsquery = text_query(task_text).tsquery
    if tsquery is None:
        return []
    query = SearchQuery(tsquery, search_type="raw", config="english")
    edit = Feedback.objects.filter(trace=OuterRef("pk")).exclude(edited_output="").order_by("-id")
    rows = (
        Trace.objects.filter(pk__in=_candidates(agent))
        .annotate(
            similarity=SearchRank(SearchVector("task", config="english"), query),
            rating=Max("feedback__rating"),
            edited_output=Subquery(edit.values("edited_output")[:1]),
            edited=Exists(edit),
        )
        .filter(similarity__gt=0)
        .order_by("-similarity", Coalesce("rating", Value(0, IntegerField())).desc(), "-id")
        .values("id", "task", "output", "edited_output", "edited", "rating", "similarity")
    )[: min(n, MAX_EXAMPLES)]
    return [
        Example(
            trace_id=row["id"],
            task=row["task"],
            response=row["edited_output"] or row["output"],
            edited=bool(row["edited"]),
            rating=row["rating"],
            similarity=round(float(row["similarity"]), 4),
        )
        for row in rows
    ]
