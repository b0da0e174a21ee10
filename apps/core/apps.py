from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Steward core"

    def ready(self) -> None:
        register_login_records()
        register_pii_fields()
        install_model_clock()


def install_model_clock() -> None:
    """Model defaults of `timezone.now` and auto_now fields read apps.core.clock (so the
    demo seed can backdate through the services)."""
    from apps.core.clock import install_model_clock as install

    install()


def register_login_records() -> None:
    """django-axes' sign-in records (apps.core.logins): lockouts are audited from its signal,
    the access log is governed (inserts are a log; only the audited expiry deletes), and its
    text fields are exempt from PII masking: the raw username and address are what lockouts
    match on, operators alone read them, and they expire (LOGIN_RECORDS_KEEP_DAYS)."""
    from axes.signals import user_locked_out

    from apps.audit.reconcile import governed_model_register
    from apps.core.logins import on_user_locked_out
    from apps.privacy.registry import register_exempt_fields

    user_locked_out.connect(on_user_locked_out, dispatch_uid="steward-login-lockout-audit")
    governed_model_register("axes.accesslog", ignore={"logout_time"}, log=True)
    reason = (
        "sign-in records of no workspace: lockouts match the raw username and address; "
        "operators only; deleted after LOGIN_RECORDS_KEEP_DAYS"
    )
    fields = ("username", "user_agent", "http_accept", "path_info")
    register_exempt_fields("axes.AccessLog", (*fields, "session_hash"), reason=reason)
    register_exempt_fields("axes.AccessAttempt", (*fields, "get_data", "post_data"), reason=reason)
    register_exempt_fields("axes.AccessFailureLog", fields, reason=reason)


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
    register_exempt_fields(
        "core.OutboxMessage",
        ("task_name", "args", "kwargs", "dedup_key", "last_error"),
        reason="written by the code: a task name, ids as its arguments (tasks take ids, never "
        "text), a dedup key, the broker's error",
    )
