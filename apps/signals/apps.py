from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "apps.signals"
    label = "signals"
    verbose_name = "Traces, feedback and outcomes"

    def ready(self) -> None:
        register_pii_fields()
        register_audit()
        register_compliance()


def register_pii_fields() -> None:
    """Tasks, outputs, explanations and edits are free text; steps, tool calls and experiment
    assignments are JSON an agent sends: all masked. Stages and a custom kind's name are slugs,
    refused (not masked) when they hold personal data; contacts, accounts and experiment units
    are stored as keyed hashes only."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    for field in ("task", "output"):
        register_masked_field("signals.Trace", field)
    for field in ("steps", "tool_calls", "experiment_assignments"):
        register_masked_field("signals.Trace", field, kind="json")
    for field in ("explanation", "edited_output", "diff"):
        register_masked_field("signals.Feedback", field)
    register_exempt_fields(
        "signals.Trace",
        ("model_name", "status", "policy_versions"),
        reason=(
            "a model identifier (screened on write: refused if it holds personal data), a fixed "
            "vocabulary, and version references built from checked rows of the workspace"
        ),
    )
    register_exempt_fields("signals.Feedback", ("kind",), reason="a fixed vocabulary")
    register_exempt_fields(
        "signals.Outcome",
        (
            "kind",
            "currency",
            "account_hash",
            "contact_hash",
            "experiment_unit_hash",
            "idempotency_key",
        ),
        reason="fixed vocabularies (kind, ISO currency) and keyed HMAC-SHA256 digests",
    )
    register_exempt_fields(
        "signals.Outcome",
        ("custom_kind", "from_stage", "to_stage"),
        reason="slugs, screened on write: refused when they hold personal data",
    )


def register_audit() -> None:
    """Traces, feedback and outcomes are records of what happened, not decisions: inserted in
    bulk by the ingestion services, which write one audit event per batch."""
    from apps.audit.reconcile import governed_model_register

    for label in ("signals.trace", "signals.feedback", "signals.outcome"):
        governed_model_register(label, log=True)


def register_compliance() -> None:
    """Erasure scrubs a data subject's tokens out of the masked free text."""
    from django.apps import apps

    if not apps.is_installed("apps.compliance"):
        return
    from apps.compliance.fingerprints import register_linked_fields
    from apps.compliance.registry import ErasureTarget, by_workspace, register_erasure_target

    for label, fields in (
        ("signals.Trace", ("task", "output")),
        ("signals.Feedback", ("explanation", "edited_output", "diff")),
    ):
        register_linked_fields(label, fields)
        register_erasure_target(ErasureTarget(label, fields, by_workspace(), action="scrub"))
