from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Steward core"

    def ready(self) -> None:
        register_pii_fields()


def register_pii_fields() -> None:
    """Core's own text fields in the PII field registry (apps.privacy.registry)."""
    from apps.core.idempotency import records_of_workspace
    from apps.privacy.registry import (
        register_exempt_field,
        register_exempt_fields,
        register_masked_field,
    )

    register_exempt_field("core.WorkerHeartbeat", "hostname", reason="the worker's host name")
    register_exempt_fields(
        "core.IdempotencyRecord",
        ("principal_kind", "principal_id", "method", "request_hash"),
        reason="written by the system: principal kind and id, HTTP method, SHA-256 of the request",
    )
    register_exempt_field(
        "core.IdempotencyRecord",
        "key",
        reason="an HMAC-SHA256 digest of the client's key (apps.core.idempotency.key_digest)",
    )
    for name in ("path", "response_body"):
        register_masked_field("core.IdempotencyRecord", name, scope=records_of_workspace)
