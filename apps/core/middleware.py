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

    The API reads exactly Content-Length bytes (DRF treats a body without one as empty), so the
    declared length is the whole of what can arrive; a length that is not a non-negative integer
    is refused rather than guessed at.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            declared = str(request.META.get("CONTENT_LENGTH") or "0").strip()
            if not (declared.isascii() and declared.isdigit()):
                return error_response(
                    400,
                    "malformed_request",
                    "Content-Length must be a non-negative integer number of bytes.",
                )
            length = int(declared)
            if length > settings.API_MAX_BODY_BYTES:
                return error_response(
                    413,
                    "payload_too_large",
                    f"Request body is {length} bytes; the limit is "
                    f"{settings.API_MAX_BODY_BYTES} bytes. Split it into smaller requests.",
                )
        return self.get_response(request)
