from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

BIGINT_MAX = 2**63 - 1
INVALID_CURSOR = "Invalid cursor; follow the next and previous links exactly as returned."


class StewardCursorPagination(CursorPagination):
    """Cursor pages: stable under concurrent writes and no COUNT(*) on big tables."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def decode_cursor(self, request: Request) -> Cursor | None:
        """A bad cursor is the caller's mistake (400), not a missing page (DRF says 404).

        The position is compared with `id`, so it must be an integer the database accepts;
        DRF passes it through unchecked and a forged one would be a 500.
        """
        try:
            cursor: Cursor | None = super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from exc
        if cursor is not None and not _is_bigint(cursor.position):
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
        return cursor


def _is_bigint(position: Any) -> bool:
    if position is None:
        return True
    text = str(position)
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit() and abs(int(text)) <= BIGINT_MAX
