from __future__ import annotations

import logging

from apps.core.request_context import get_request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record so log lines join up with audit events."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs 4xx/5xx after the middleware has reset the context; fall back to the
        # request the record carries.
        request = getattr(record, "request", None)
        record.request_id = get_request_id() or getattr(request, "request_id", None) or "-"
        return True
