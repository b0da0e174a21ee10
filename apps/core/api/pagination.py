from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

BIGINT_MAX = 2**63 - 1
CURSOR_TEXT = re.compile(r"[A-Za-z0-9+/=]{1,400}")
INVALID_CURSOR = "Invalid cursor; follow the next and previous links exactly as returned."
INVALID_PAGE_SIZE = "A page size is a whole number from 1; larger than {cap} reads as {cap}."


class StewardCursorPagination(CursorPagination):
    """Cursor pages: stable under concurrent writes and no COUNT(*) on big tables."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def get_page_size(self, request: Request) -> int:
        """A page size that is not a whole number from 1 is refused (400), as the schema says;
        one over `max_page_size` is capped."""
        raw = request.query_params.get(self.page_size_query_param or "page_size")
        if raw is None:
            return int(self.page_size)
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            message = INVALID_PAGE_SIZE.format(cap=self.max_page_size)
            raise ValidationError({self.page_size_query_param: [message]})
        return min(int(raw), int(self.max_page_size))

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page, from 1 (default {self.page_size}; more than "
                    f"{self.max_page_size} reads as {self.max_page_size})."
                )
        return parameters

    def decode_cursor(self, request: Request) -> Cursor | None:
        """A bad cursor is the caller's mistake (400), not a missing page (DRF says 404).

        The position is compared with `id`, so it must be an integer the database accepts;
        DRF passes it through unchecked and a forged one would be a 500.
        """
        raw = request.query_params.get(self.cursor_query_param)
        if raw and not CURSOR_TEXT.fullmatch(raw):  # base64 would drop the other characters
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
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
