"""One error body for every API failure: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response

from apps.core.exceptions import ServiceError

NOT_FOUND_MESSAGE = "Not found, or you do not have access to it."


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(status: int, code: str, message: str) -> JsonResponse:
    """Plain Django response for errors raised outside DRF (middleware, URL resolver)."""
    return JsonResponse(error_body(code, message), status=status)


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _validation_body(exc: drf.ValidationError) -> dict[str, Any]:
    detail = exc.detail
    if isinstance(detail, dict):
        fields = _flatten(detail)
        general = fields.pop("non_field_errors", None)
        names = ", ".join(sorted(fields)) or "the request"
        message = "; ".join(general) if general else f"Invalid input in: {names}."
        return error_body("invalid", message, fields)
    messages = _flatten(detail if isinstance(detail, list) else [detail])
    return error_body("invalid", "; ".join(str(m) for m in messages) or "Invalid input.")


_CODES: dict[type[Exception], tuple[int, str]] = {
    drf.ParseError: (400, "malformed_request"),
    drf.NotAuthenticated: (401, "not_authenticated"),
    drf.AuthenticationFailed: (401, "authentication_failed"),
    drf.PermissionDenied: (403, "permission_denied"),
    drf.NotFound: (404, "not_found"),
    drf.MethodNotAllowed: (405, "method_not_allowed"),
    drf.NotAcceptable: (406, "not_acceptable"),
    drf.UnsupportedMediaType: (415, "unsupported_media_type"),
    drf.Throttled: (429, "throttled"),
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler; anything not listed stays a 500 (and is logged by Django)."""
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "Request body exceeds the size limit."), status=413
        )
    if isinstance(exc, Http404):
        return Response(error_body("not_found", NOT_FOUND_MESSAGE), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied(str(exc) or None)
    if isinstance(exc, drf.ValidationError):
        return Response(_validation_body(exc), status=400)
    if not isinstance(exc, drf.APIException):
        return None
    return _api_exception_response(exc)


def _api_exception_response(exc: drf.APIException) -> Response:
    status, code = next(
        (value for kind, value in _CODES.items() if isinstance(exc, kind)),
        (exc.status_code, "error"),
    )
    message = NOT_FOUND_MESSAGE if status == 404 else str(exc.detail)
    response = Response(error_body(code, message), status=status)
    wait = getattr(exc, "wait", None)
    if isinstance(exc, drf.Throttled) and wait is not None:
        response["Retry-After"] = str(int(wait) + 1)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="steward"'
    return response


@csrf_exempt  # an unknown API path is 404 for every method, never Django's HTML CSRF page
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    return error_response(404, "not_found", NOT_FOUND_MESSAGE)


def api_server_error(request: HttpRequest) -> JsonResponse:
    return error_response(500, "server_error", "Internal error; the request id is in the logs.")


# Django's handler400/404/500 (wired in config/urls.py): API paths keep the one error body even
# when the failure happens outside DRF (URL resolution, SuspiciousOperation, an unhandled bug).


def _is_api(request: HttpRequest) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(400, "malformed_request", "The request could not be understood.")
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return api_server_error(request)
    return defaults.server_error(request)
