from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core.api.errors import error_response
from apps.core.request_context import new_request_id, reset_request_id, set_request_id

Handler = Callable[[HttpRequest], HttpResponse]


class RequestIdMiddleware:
    """Gives every request an id (X-Request-ID in and out) used by logs and audit events."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id  # type: ignore[attr-defined]
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response


class ApiBodySizeLimitMiddleware:
    """Refuses API bodies over API_MAX_BODY_BYTES with 413 before anything reads them.

    Bodies without a Content-Length (chunked) are caught when read: Django raises
    RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE and the API error handler maps it to 413.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(400, "invalid", "Content-Length must be an integer.")
            if length > settings.API_MAX_BODY_BYTES:
                return error_response(
                    413,
                    "payload_too_large",
                    f"Request body is {length} bytes; the limit is "
                    f"{settings.API_MAX_BODY_BYTES} bytes. Split it into smaller requests.",
                )
        return self.get_response(request)
