from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        register_pii_fields()


def register_pii_fields() -> None:
    """The trail's text in the PII field registry (apps.privacy.registry). audit_event_record
    masks these; the rows are append-only, so what slipped through is redacted by the re-scan
    (audit_event_redact: before, after, reason, object_repr) or reported (actor_label)."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    for name in ("actor_label", "object_repr", "reason"):
        register_masked_field("audit.AuditEvent", name, append_only=True)
    for name in ("before", "after"):
        register_masked_field("audit.AuditEvent", name, kind="json", append_only=True)
    register_exempt_fields(
        "audit.AuditEvent",
        ("actor_kind", "actor_id", "action", "object_type", "object_id"),
        reason="written by the code: actor kind and id, action name, model label, primary key",
    )
    register_exempt_fields(
        "audit.AuditEvent",
        ("request_id",),
        reason="a generated id, or X-Request-ID restricted to [A-Za-z0-9._:-]{8,64}",
    )
    register_exempt_fields("audit.AuditEvent", ("prev_hash", "hash"), reason="SHA-256 hashes")
    register_exempt_fields("audit.AuditChainHead", ("last_hash",), reason="a SHA-256 hash")
    register_exempt_fields("audit.AuditChainAnchor", ("hash",), reason="a SHA-256 hash")
    register_exempt_fields(
        "audit.AuditRedaction",
        ("original_hash", "redacted_hash"),
        reason="SHA-256 hashes",
    )
    register_exempt_fields(
        "audit.AuditRedaction",
        ("fields", "job"),
        reason="written by the code: names of redacted event fields, a model label and id",
    )
    register_exempt_fields(
        "audit.AuditVerificationRun",
        ("trigger", "status", "results", "problem"),
        reason="written by the verifier: trigger and status names, per-chain counts, ids, hashes",
    )
