"""`POST /api/v1/guardrails/check` dispatched at the WSGI level (config/wsgi.py), ahead of
Django's handler: the lean path (apps.guardrails.api.lean) behind exactly the middleware that
runs ahead of it in MIDDLEWARE, without the handler's own per-request work (the exception
wrapper around every middleware, URL conf and script prefix setup, the rest of the chain).

What Django's handler and that middleware do for this request, it does too: the
`request_started` / `request_finished` signals (`close_old_connections`: connection age and
health checks), Django's WSGIRequest, the host check (ALLOWED_HOSTS; DisallowedHost is a
400), SecurityMiddleware, the request id, the API body size limit, ServerTimingMiddleware
when it is on, Django's error handling (an exception is answered by `handler500`, the API's
JSON 500, and logged as Django logs it), 4xx/5xx logging.

When the lean path is not sure (see apps.guardrails.api.lean) nothing has been written: the
request goes to Django's handler with its body, marked so the lean path is not tried twice,
and the full stack answers it as before. The dispatch turns itself off (everything goes to
Django) when MIDDLEWARE ahead of LeanCheckMiddleware holds anything it does not know, or when
GUARDRAILS_LEAN_WSGI is false.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.log import log_response
from django.utils.module_loading import import_string

from apps.guardrails.api.lean import WSGI_TRIED, lean_answer

LEAN = "apps.guardrails.api.lean.LeanCheckMiddleware"
# Middleware that may run ahead of the lean path, and whether the dispatch runs it: WhiteNoise
# only serves files under STATIC_URL (and adds nothing to other answers).
KNOWN_AHEAD = {
    "django.middleware.security.SecurityMiddleware": True,
    "whitenoise.middleware.WhiteNoiseMiddleware": False,
    "apps.core.middleware.RequestIdMiddleware": True,
    "apps.core.middleware.ApiBodySizeLimitMiddleware": True,
    "apps.core.middleware.ServerTimingMiddleware": True,
}

Handler = Callable[[HttpRequest], HttpResponse]


class Declined(Exception):
    """The lean path is not sure: Django's handler answers (nothing was written)."""


def _guarded(get_response: Handler) -> Handler:
    """As django.core.handlers.exception.convert_exception_to_response, but letting
    Declined through to the dispatch."""

    def inner(request: HttpRequest) -> HttpResponse:
        try:
            return get_response(request)
        except Declined:
            raise
        except Exception as exc:  # Django answers every exception (handler500)
            return response_for_exception(request, exc)

    return inner


def _lean(request: HttpRequest) -> HttpResponse:
    request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it for Django's handler
    response = lean_answer(request)
    if response is None:
        raise Declined
    return response


def lean_chain() -> Handler | None:
    """The lean path behind the middleware MIDDLEWARE puts ahead of it, each wrapped as
    Django wraps it; None when the dispatch cannot promise the same behaviour."""
    names = list(settings.MIDDLEWARE)
    if not getattr(settings, "GUARDRAILS_LEAN_WSGI", True) or LEAN not in names:
        return None
    ahead = names[: names.index(LEAN)]
    if any(name not in KNOWN_AHEAD for name in ahead):
        return None
    handler = _guarded(_lean)
    for name in reversed(ahead):
        if not KNOWN_AHEAD[name]:
            continue
        try:
            middleware = import_string(name)(handler)
        except MiddlewareNotUsed:
            continue
        handler = _guarded(middleware)
    return handler


class LeanCheckApplication:
    """The WSGI application: the guardrail check through `lean_chain()`, everything else
    (and every check the lean path declines) through Django's handler."""

    def __init__(self, django: WSGIHandler) -> None:
        self.django = django
        self.chain = lean_chain()
        self.paths: frozenset[str] = frozenset()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.chain is None or not self._is_check(environ):
            return self.django(environ, start_response)
        signals.request_started.send(sender=WSGIHandler, environ=environ)
        request = WSGIRequest(environ)
        try:
            response = self.chain(request)
        except Declined:
            return self._to_django(environ, request, start_response)
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        response._handler_class = WSGIHandler  # type: ignore[attr-defined]
        headers = [
            *response.items(),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return response  # the server's close() sends request_finished

    def _is_check(self, environ: dict[str, Any]) -> bool:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("SCRIPT_NAME"):
            return False
        if not self.paths:
            path = reverse("guardrail-check")
            self.paths = frozenset((path, f"{path}/"))
        return environ.get("PATH_INFO") in self.paths

    def _to_django(
        self, environ: dict[str, Any], request: HttpRequest, start_response: Any
    ) -> Iterable[bytes]:
        if hasattr(request, "_body"):  # the lean path read it: Django's request reads it again
            environ["wsgi.input"] = io.BytesIO(request.body)
        environ[WSGI_TRIED] = True  # LeanCheckMiddleware skips it
        return self.django(environ, start_response)
