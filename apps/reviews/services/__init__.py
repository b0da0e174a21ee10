"""Every change to the review queue goes through here; see each module's docstring."""

from apps.reviews.services.common import review_settings_for
from apps.reviews.services.decisions import (
    review_approve,
    review_decide,
    review_edit,
    review_edit_approve,
    review_expire,
    review_merge,
    review_promote,
    review_reject,
    review_request_changes,
)
from apps.reviews.services.queue import (
    review_assign,
    review_open,
    review_promotion_request,
    review_settings_update,
)

__all__ = [
    "review_approve",
    "review_assign",
    "review_decide",
    "review_edit",
    "review_edit_approve",
    "review_expire",
    "review_merge",
    "review_open",
    "review_promote",
    "review_promotion_request",
    "review_reject",
    "review_request_changes",
    "review_settings_for",
    "review_settings_update",
]
