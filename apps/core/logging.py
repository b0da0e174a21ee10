from __future__ import annotations

import logging

from apps.core.request_context import get_request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record so log lines join up with audit events."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        return True
