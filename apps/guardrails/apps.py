from django.apps import AppConfig


class GuardrailsConfig(AppConfig):
    name = "apps.guardrails"
    label = "guardrails"
    verbose_name = "Guardrails"

    def ready(self) -> None:
        register_pii_fields()
        register_audit()
        register_compliance()


def register_pii_fields() -> None:
    """Reasons people type are masked; everything else is a fixed vocabulary, a number, a keyed
    hash or a label masked on write. Contact identifiers are never stored: only their keyed
    hash (apps.guardrails.units)."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    register_masked_field("guardrails.KillSwitch", "reason")
    register_masked_field("guardrails.KillSwitch", "clear_reason")
    register_exempt_fields(
        "guardrails.KillSwitch",
        ("level", "set_by_label", "cleared_by_label"),
        reason="a fixed vocabulary; the actors' display labels, masked on write",
    )
    register_exempt_fields(
        "guardrails.GuardrailLimits",
        ("level", "currency", "sending_hours"),
        reason="a fixed vocabulary, an ISO currency code, hours and time zone names per region",
    )
    register_exempt_fields(
        "guardrails.LimitCounter",
        ("scope", "kind"),
        reason="an agent or team id or a keyed hash, and a limit's name",
    )
    register_exempt_fields(
        "guardrails.Reservation",
        ("action", "channel", "unit_hash", "region", "currency", "run_id", "status", "holds"),
        reason=(
            "fixed vocabularies, a keyed hash (never the contact), a region code, a run id "
            "restricted to [A-Za-z0-9._:-], counter ids and amounts"
        ),
    )
    register_exempt_fields(
        "guardrails.SuppressionEntry",
        ("unit_hash", "channel", "reason", "source", "created_by_label"),
        reason="a keyed hash (never the contact), fixed vocabularies, a label masked on write",
    )
    register_masked_field("guardrails.CircuitBreaker", "name")
    register_exempt_fields(
        "guardrails.CircuitBreaker",
        ("metric", "scope", "per_outcome", "action"),
        reason="fixed vocabularies",
    )
    for name in ("breaker_name", "reason", "reset_reason"):
        register_masked_field("guardrails.BreakerTrip", name)
    register_exempt_fields(
        "guardrails.BreakerTrip",
        ("metric", "subject", "level", "action", "budget_before", "reset_by_label"),
        reason=(
            "fixed vocabularies, an agent or team id, a budget field's name and amounts, an "
            "actor's label masked on write"
        ),
    )
    register_exempt_fields(
        "guardrails.Trip",
        ("code", "rule", "action", "channel", "values", "request_id"),
        reason="codes, rule names, numbers compared and a request id the service writes",
    )


def register_audit() -> None:
    """Switches, limits, suppression entries, circuit breakers and their trips are decisions:
    audited by their services (a trip by the system actor "circuit-breaker").
    Counters, reservations and trips are the check's own records (the hot path): inserted
    without an event; a reservation's settlement and a counter's level are bookkeeping."""
    from apps.audit.reconcile import governed_model_register

    governed_model_register("guardrails.killswitch")
    governed_model_register("guardrails.guardraillimits", ignore={"updated_at"})
    governed_model_register("guardrails.suppressionentry")
    governed_model_register("guardrails.limitcounter", log=True, ignore={"used", "cap"})
    governed_model_register(
        "guardrails.reservation", log=True, ignore={"status", "actual_cost", "settled_at"}
    )
    governed_model_register("guardrails.trip", log=True)
    governed_model_register("guardrails.circuitbreaker", ignore={"updated_at"})
    governed_model_register("guardrails.breakertrip")


def register_compliance() -> None:
    """Erasure scrubs a data subject's tokens out of the pause reasons (the switch stays) and
    out of circuit breakers' names and their trips' reasons;
    saving them links their fingerprints to the row. Suppression entries are kept through an
    erasure on purpose: they hold only a keyed hash, and they are what keeps the person from
    being contacted again."""
    from django.apps import apps

    if not apps.is_installed("apps.compliance"):
        return
    from apps.compliance.fingerprints import register_linked_fields
    from apps.compliance.registry import ErasureTarget, by_workspace, register_erasure_target

    fields = ("reason", "clear_reason")
    register_linked_fields("guardrails.KillSwitch", fields)
    register_erasure_target(
        ErasureTarget("guardrails.KillSwitch", fields, by_workspace(), action="scrub")
    )
    for label, masked in (
        ("guardrails.CircuitBreaker", ("name",)),
        ("guardrails.BreakerTrip", ("breaker_name", "reason", "reset_reason")),
    ):
        register_linked_fields(label, masked)
        register_erasure_target(ErasureTarget(label, masked, by_workspace(), action="scrub"))
