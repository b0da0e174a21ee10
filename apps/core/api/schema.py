"""OpenAPI generation: the shared headers every write endpoint documents, and the error
responses every operation can return, derived from the view rather than listed per endpoint.

Each error status references one `Error` component, the body of apps.core.api.errors:
`{"error": {"code", "message", "fields"}}`.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance
from drf_spectacular.utils import OpenApiParameter
from rest_framework import permissions, serializers

from apps.core.idempotency import HEADER, MAX_KEY_LENGTH, is_idempotent

IDEMPOTENCY_KEY = OpenApiParameter(
    name=HEADER,
    type={
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": f"^[ -~]{{1,{MAX_KEY_LENGTH}}}$",
    },
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        f"Any 1-{MAX_KEY_LENGTH} printable ASCII characters (a UUID is the usual choice). "
        "A retry with the same key, method, path and body returns the first response with "
        "`Idempotent-Replayed: true` and never runs the write twice; the same key with a "
        "different request is 409 `idempotency_key_reused`, and a duplicate sent while the "
        "first is still running is 409 `idempotency_in_progress`. Kept for 24 hours."
    ),
)

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The one error body of every API failure.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable, machine-readable: invalid, not_found, "
                    "permission_denied, idempotency_key_reused, throttled, ...",
                },
                "message": {"type": "string", "description": "What went wrong, for people."},
                "fields": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Per input field (or header), what to fix; empty otherwise.",
                },
            },
            "required": ["code", "message", "fields"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}
ERROR_COMPONENT = ResolvedComponent(
    name="Error", type=ResolvedComponent.SCHEMA, schema=ERROR_SCHEMA, object="steward-error"
)

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `error.fields` says what to fix in each field (also a malformed JSON "
    "body, a bad query parameter or a bad `Idempotency-Key`).",
    401: "Not authenticated: no session or `Authorization: Bearer <token>`, or the token is "
    "malformed, revoked or expired.",
    403: "Authenticated but not allowed: a role or token scope is missing, an agent called a "
    "people-only endpoint (or the reverse), or a session write lacks its CSRF token.",
    404: "Not found, or you do not have access to it (the two look the same).",
    409: "Conflict with the current state (already decided, a duplicate name, ...), or an "
    "`Idempotency-Key` reused for a different request or still in progress.",
    413: "The request body is over the size limit.",
    415: "Unsupported media type: send `Content-Type: application/json`.",
    429: "Too many requests from this agent; retry after `Retry-After` seconds.",
    503: "A dependency (such as the embedding provider) failed; nothing was written. Retry later.",
}
ERROR_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": 'How to authenticate: `Bearer realm="steward"`.',
        }
    },
    429: {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 0},
            "description": "Seconds to wait before the next request.",
        }
    },
}
BODY_METHODS = ("POST", "PUT", "PATCH")


# DRF's CharField refuses NUL characters (PostgreSQL can't store them) and, unless blank is
# allowed, text that is only whitespace once stripped (Python's str.strip, spelled out here).
PY_SPACE = r"\s\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = r"^[^\x00]*$"
NON_BLANK_TEXT_PATTERN = rf"^[^\x00]*[^\x00{PY_SPACE}][^\x00]*$"


def is_non_null_json(field: Any, schema: Any) -> bool:
    return isinstance(field, serializers.JSONField) and not field.allow_null and schema == {}


def is_free_text(field: Any, schema: Any) -> bool:
    return (
        isinstance(field, serializers.CharField)
        and isinstance(schema, dict)
        and schema.get("type") == "string"
        and not {"pattern", "format", "enum"} & schema.keys()
        and not any(isinstance(validator, RegexValidator) for validator in field.validators)
    )


def strict_input_rules(serializer: Any) -> dict[str, Any]:
    """What a `StrictInput` serializer refuses, as JSON Schema: unknown keys; a missing required
    field even in a PATCH (the views never validate partially); an empty change
    (`needs_a_change`, where `not_a_change` fields alone do not count); `at_least_one_of`;
    `exactly_one_of`; `schema_variants` (groups of alternatives a service enforces, each group an
    anyOf); and `required_for_people`, fields agents may omit but people must send (an
    `x-required-for-people` extension: OpenAPI has no per-caller `required`)."""
    fields = {name: field for name, field in serializer.fields.items() if not field.read_only}
    rules: dict[str, Any] = {"additionalProperties": False}
    required = sorted(name for name, field in fields.items() if field.required)
    if required:
        rules["required"] = required
    at_least_one = list(getattr(serializer, "at_least_one_of", ()))
    if getattr(serializer, "needs_a_change", False):
        at_least_one = sorted(set(fields) - set(getattr(serializer, "not_a_change", ())))
    if at_least_one:
        rules["anyOf"] = [{"required": [name]} for name in at_least_one]
    exactly_one = getattr(serializer, "exactly_one_of", ())
    if exactly_one:
        rules["oneOf"] = [{"required": [name]} for name in exactly_one]
    groups = getattr(serializer, "schema_variants", ())
    if groups:
        rules["allOf"] = [{"anyOf": list(group)} for group in groups]
    people_name = getattr(serializer, "required_for_people", ())
    if people_name:
        rules["x-required-for-people"] = list(people_name)
    return rules


class StewardAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if is_idempotent(self._handler()):
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        """`StrictInput` serializers state their rules (see strict_input_rules)."""
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and getattr(serializer, "strict_input", False):
            schema.update(strict_input_rules(serializer))
        return schema

    def _map_serializer_field(self, field: Any, direction: str, *args: Any, **kwargs: Any) -> Any:
        """Text, JSON and keyed-dict fields state what the server refuses (see the helpers)."""
        schema = super()._map_serializer_field(field, direction, *args, **kwargs)
        if direction == "request" and is_non_null_json(field, schema):
            schema["not"] = {"enum": [None]}  # any JSON value but null
        if direction == "request" and is_free_text(field, schema):
            schema["pattern"] = TEXT_PATTERN if field.allow_blank else NON_BLANK_TEXT_PATTERN
        allowed = getattr(field, "allowed_keys", None)
        if isinstance(field, serializers.DictField) and allowed and schema is not None:
            value = schema.pop("additionalProperties", {})
            schema["properties"] = dict.fromkeys(allowed, value)
            schema["additionalProperties"] = False
        return schema

    def _get_request_body(self, direction: str = "request") -> Any:
        """A `StrictInput` body with rules to meet can't be left out (an empty PATCH is 400)."""
        body = super()._get_request_body(direction)
        if not body:
            return body
        serializer = force_instance(self.get_request_serializer())
        if getattr(serializer, "strict_input", False):
            rules = strict_input_rules(serializer)
            if {"required", "anyOf", "oneOf", "allOf"} & rules.keys():
                body["required"] = True
        return body

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        self.registry.register_on_missing(ERROR_COMPONENT)
        self._mark_empty_values_allowed(operation)
        responses = operation["responses"]
        for status in self.error_statuses(operation):
            responses.setdefault(str(status), self._error_response(status))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _mark_empty_values_allowed(self, operation: dict[str, Any]) -> None:
        """List filters and the cursor ignore an empty value (`?tier=` filters nothing)."""
        ignored = {parameter["name"] for parameter in self._get_filter_parameters()}
        paginator = self._get_paginator()
        if paginator is not None:
            ignored.add(getattr(paginator, "cursor_query_param", "cursor"))
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query" and parameter.get("name") in ignored:
                parameter["allowEmptyValue"] = True

    def error_statuses(self, operation: dict[str, Any]) -> list[int]:
        """What this operation can answer besides success, read off the view and the operation:
        input it validates (400), who may call it (401/403), an object in the path (404),
        `@idempotent` writes (409), a request body (413/415), throttles (429), and what the
        view adds per action in `extra_error_statuses`."""
        statuses: list[int] = []
        takes_body = "requestBody" in operation or self.method in BODY_METHODS
        idempotent = is_idempotent(self._handler())
        where = {parameter.get("in") for parameter in operation.get("parameters", [])}
        if takes_body or idempotent or "query" in where:
            statuses.append(400)
        if self._requires_authentication():
            statuses += [401, 403]
        if "path" in where:
            statuses.append(404)
        if idempotent:
            statuses.append(409)
        if takes_body:
            statuses += [413, 415]
        if self.view.get_throttles():
            statuses.append(429)
        extra: dict[str, list[int]] = getattr(self.view, "extra_error_statuses", {})
        statuses += extra.get(getattr(self.view, "action", None) or self.method.lower(), [])
        return statuses

    def _handler(self) -> Any:
        action = getattr(self.view, "action", None)
        return getattr(self.view, action or self.method.lower(), None)

    def _requires_authentication(self) -> bool:
        return not all(
            isinstance(permission, permissions.AllowAny)
            for permission in self.view.get_permissions()
        )

    def _error_response(self, status: int) -> dict[str, Any]:
        response: dict[str, Any] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ERROR_COMPONENT.ref}},
        }
        if status in ERROR_HEADERS:
            response["headers"] = ERROR_HEADERS[status]
        return response


def one_path_per_route(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """drf-spectacular preprocessing hook: a route served both with and without its trailing
    slash (`/agents/me/bundle` and `/agents/me/bundle/`) is documented once, with it, as the
    routers' optional slash already is."""
    paths = {endpoint[0] for endpoint in endpoints}
    return [e for e in endpoints if e[0].endswith("/") or f"{e[0]}/" not in paths]
