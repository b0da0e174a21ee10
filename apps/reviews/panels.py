"""What the decision page shows: the request, its kind's subject cards (the handler's
template and context: the item, provenance, diff, similar items), the decisions that apply,
and the next / previous request of the queue."""

from __future__ import annotations

import difflib
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from apps.reviews.kinds import ReviewKind, review_kind_or_none
from apps.reviews.models import ReviewRequest, ReviewSettings
from apps.reviews.selectors import neighbours
from apps.reviews.services.common import review_settings_for


def side_by_side(old: str, new: str) -> list[dict[str, str]]:
    """Word-level opcodes for a two-column diff: each part is equal, removed or added."""
    before, after = old.split(), new.split()
    parts: list[dict[str, str]] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        parts.append(
            {
                "op": "equal" if op == "equal" else "change",
                "old": " ".join(before[i1:i2]),
                "new": " ".join(after[j1:j2]),
            }
        )
    return parts


def _settings_of(obj: ReviewRequest) -> ReviewSettings:
    """The workspace's settings as fetched with the request (the decision page selects them
    along), else read or created with the defaults."""
    try:
        return obj.workspace.review_settings
    except ObjectDoesNotExist:
        return review_settings_for(obj.workspace_id)


def _url(pk: int | None) -> str | None:
    return reverse("admin:reviews_reviewrequest_change", args=[pk]) if pk else None


def decision_context(
    request: HttpRequest, obj: ReviewRequest, queue: QuerySet[Any]
) -> dict[str, Any]:
    handler = review_kind_or_none(obj.kind) or ReviewKind()
    previous, following = neighbours(queue, obj)
    settings = _settings_of(obj)
    decisions = handler.decisions_for(obj) if handler.kinds else []
    return {
        "diff": None,
        **handler.panel_context(request, obj),
        "review": obj,
        "panel_template": handler.panel_template,
        "decisions": decisions,
        "decision_labels": [(name, handler.decisions.get(name, name)) for name in decisions],
        "four_eyes": obj.tier in settings.four_eyes_tiers,
        "overdue": bool(getattr(obj, "overdue", False)),
        "previous_url": _url(previous),
        "next_url": _url(following),
    }
