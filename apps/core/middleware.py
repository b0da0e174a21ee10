from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import connection
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


class ServerTimingMiddleware:
    """Opt-in (SERVER_TIMING = True, used by bench/context): a `Server-Timing` header with the
    time spent in Django (`app`) and in database calls (`db`, with the number of queries).

    Put it first in MIDDLEWARE so `app` covers the whole stack. Off unless the setting is on:
    then Django drops it at start-up and production requests never reach it.
    """

    def __init__(self, get_response: Handler) -> None:
        if not getattr(settings, "SERVER_TIMING", False):
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        db = {"seconds": 0.0, "queries": 0}

        def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                db["seconds"] += time.perf_counter() - start
                db["queries"] += 1

        start = time.perf_counter()
        with connection.execute_wrapper(timed):
            response = self.get_response(request)
        total = time.perf_counter() - start
        response["Server-Timing"] = (
            f"app;dur={total * 1000:.3f}, db;dur={db['seconds'] * 1000:.3f};"
            f'desc="{db["queries"]} queries"'
        )
        return response


class RequestGrantsMiddleware:
    """Admin pages read the signed-in person's memberships once per request and scope by the
    ids (apps/workspaces/grants.py). After AuthenticationMiddleware."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.prefix = ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.prefix:
            from django.urls import reverse

            self.prefix = reverse("admin:index")
        if request.path.startswith(self.prefix):
            user: Any = request.user
            if user.is_authenticated and not user.is_superuser:
                from apps.workspaces.grants import grants_enable

                grants_enable(user)
        return self.get_response(request)
