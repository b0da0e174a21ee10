"""A changelist paginator that never counts a whole big table.

Django's changelist asks its paginator for `count` on every page. Over a million memories (or
a long review queue) that COUNT(*) is most of the page's time. This paginator counts at most
ADMIN_COUNT_CAP + 1 rows (`SELECT count(*) FROM (... LIMIT cap + 1)`), so the work is bounded
whatever the table's size; past the cap the page says "1,000+" and pages stop at the cap.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.utils.functional import cached_property


class AtLeast(int):
    """A count known only to exceed the cap: compares and adds as the cap + 1, prints as
    "1,000+" (templates show it in the result count and the "select all" note)."""

    def __str__(self) -> str:
        return f"{int(self) - 1:,}+"

    def __html__(self) -> str:
        return str(self)


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    @property
    def cap(self) -> int:
        return int(settings.ADMIN_COUNT_CAP)

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        if not hasattr(object_list, "count"):
            return len(object_list)
        if hasattr(object_list, "order_by"):
            object_list = object_list.order_by()  # a count needs no order: any index will do
        counted = int(object_list[: self.cap + 1].count())
        return AtLeast(counted) if counted > self.cap else counted

    @property
    def capped(self) -> bool:
        return isinstance(self.count, AtLeast)
