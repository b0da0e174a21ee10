"""Reads of the review queue: what waits for whom, how long, and what sits next to an item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Now
from django.db.models.lookups import LessThan

from apps.reviews.models import DEFAULT_SLA_HOURS, ReviewRequest, ReviewSettings
from apps.workspaces.roles import Action


class HoursInterval(Func):
    function = "make_interval"
    template = "make_interval(hours => %(expressions)s)"


def due_at() -> ExpressionWrapper[Any]:
    """created_at + the workspace's SLA (one subquery on the small settings table)."""
    sla = Coalesce(
        Subquery(
            ReviewSettings.objects.filter(workspace_id=OuterRef("workspace_id")).values(
                "sla_hours"
            )[:1],
            output_field=IntegerField(),
        ),
        Value(DEFAULT_SLA_HOURS),
    )
    return ExpressionWrapper(F("created_at") + HoursInterval(sla), output_field=DateTimeField())


def with_sla(requests: QuerySet[Any]) -> QuerySet[Any]:
    """Annotate `due_at` and `overdue` (waiting past the workspace's SLA); no per-row loop."""
    return requests.annotate(
        due_at=due_at(),
        overdue=Case(
            When(LessThan(due_at(), Now()) & Q(status="pending"), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    )


def review_queue_for_user(user: Any) -> QuerySet[Any]:
    """Waiting requests this person may decide, most urgent and oldest first."""
    pending = ReviewRequest.objects.visible_to(user, Action.REVIEW).pending()
    return with_sla(pending).order_by("-priority", "created_at", "id")


@dataclass(frozen=True)
class QueueCounts:
    waiting: int
    overdue: int
    assigned_to_me: int


def review_counts_for(user: Any) -> QueueCounts | None:
    """The admin index's numbers; None for someone who decides nothing (no card shown)."""
    queue = review_queue_for_user(user).order_by()
    counts = queue.aggregate(
        waiting=Count("id"),
        overdue=Coalesce(Sum(Case(When(LessThan(due_at(), Now()), then=1), default=0)), 0),
        mine=Count("id", filter=Q(assignee_id=user.pk)),
    )
    if not counts["waiting"] and not ReviewRequest.objects.visible_to(user, Action.REVIEW).exists():
        return None
    return QueueCounts(counts["waiting"], counts["overdue"], counts["mine"])


BADGE_CAP = 999


def review_badge_for(user: Any) -> str:
    """The sidebar's number: waiting requests the person may decide, counted up to BADGE_CAP
    (every admin page shows it, so it must stay cheap however long the queue: "999+")."""
    waiting = ReviewRequest.objects.visible_to(user, Action.REVIEW).pending().order_by()
    counted = waiting.values("pk")[: BADGE_CAP + 1].count()
    if not counted:
        return ""
    return f"{BADGE_CAP}+" if counted > BADGE_CAP else str(counted)


def neighbours(queue: QuerySet[Any], request: ReviewRequest) -> tuple[int | None, int | None]:
    """Previous and next request in queue order (priority desc, age asc), for j/k review: one
    query (a UNION of the two one-row lookups)."""
    ahead = (
        Q(priority__gt=request.priority)
        | Q(priority=request.priority, created_at__lt=request.created_at)
        | Q(priority=request.priority, created_at=request.created_at, id__lt=request.pk)
    )
    previous = (
        queue.filter(ahead)
        .order_by("priority", "-created_at", "-id")
        .annotate(side=Value(0))
        .values("pk", "side")[:1]
    )
    after = queue.exclude(ahead).exclude(pk=request.pk).order_by("-priority", "created_at", "id")
    following = after.annotate(side=Value(1)).values("pk", "side")[:1]
    found = {row["side"]: row["pk"] for row in previous.union(following, all=True)}
    return found.get(0), found.get(1)
