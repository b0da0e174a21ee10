"""OpenAPI generation: the shared headers every write endpoint documents."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from apps.core.idempotency import HEADER, MAX_KEY_LENGTH, is_idempotent

IDEMPOTENCY_KEY = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
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


class StewardAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        action = getattr(self.view, "action", None)
        handler = getattr(self.view, action or self.method.lower(), None)
        if is_idempotent(handler):
            parameters.append(IDEMPOTENCY_KEY)
        return parameters
