from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps


class ExperimentsConfig(AppConfig):
    name = "apps.experiments"
    label = "experiments"
    verbose_name = "Experiments"

    def ready(self) -> None:
        register_pii_fields()
        register_audit()
        register_compliance()
        register_reviews()


def register_pii_fields() -> None:
    """The name and the hypothesis brief are free text and a variant's config is free-form
    JSON: masked. Keys, tags and the eligibility's segments and channels are slugs, refused
    when they hold personal data; units are stored as keyed hashes only."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    register_masked_field("experiments.Experiment", "name")
    register_masked_field("experiments.Experiment", "hypothesis")
    register_masked_field("experiments.Experiment", "release_notes")
    register_masked_field(
        "experiments.Variant", "config", kind="json", workspace_field="experiment__workspace"
    )
    register_exempt_fields(
        "experiments.Experiment",
        ("key", "unit_kind", "status", "eligibility", "primary_metric", "guardrail_metrics"),
        reason="a slug screened on write, fixed vocabularies, and JSON of slugs (screened on "
        "write), ids of the workspace's teams and agents, outcome kinds and numbers",
    )
    register_exempt_fields(
        "experiments.Experiment",
        ("salt",),
        reason="a keyed digest of the workspace id and the key (the assignment's salt)",
    )
    register_exempt_fields(
        "experiments.Variant",
        ("key", "memory_tag", "policy_versions", "memory_ids"),
        reason="slugs screened on write and lists of ids checked against the workspace",
    )
    register_exempt_fields(
        "experiments.Exposure", ("unit_hash",), reason="a keyed HMAC-SHA256 digest"
    )
    register_exempt_fields(
        "experiments.ExperimentAnalysis",
        ("trigger", "outcome", "winner_key", "result"),
        reason="fixed vocabularies, a variant's key and computed statistics (counts, rates, "
        "intervals and the decision's reasons, which name variants and metrics only)",
    )


def register_audit() -> None:
    """Experiments and their variants are decisions, audited by their services (a variant on
    its experiment). Exposures are the assignment's own record (the hot path): inserted in
    bulk without an event; the experiment's exposure counter is bookkeeping."""
    from apps.audit.reconcile import event_rows_register, governed_model_register

    governed_model_register("experiments.experiment", ignore={"exposure_count", "updated_at"})
    governed_model_register(
        "experiments.variant",
        subject=lambda row: ("experiments.experiment", str(row["experiment_id"])),
    )
    governed_model_register("experiments.exposure", log=True)
    governed_model_register("experiments.experimentanalysis", log=True)
    governed_model_register("experiments.experimentsettings", lazy_defaults=True)
    for action in ("experiment.start_request", "experiment.promote_request"):
        event_rows_register(action, _opened_request)


def register_compliance() -> None:
    """Erasure deletes a data subject's exposures (found by the keyed hash of each of their
    identifiers as a unit: the hash outcomes carry) and scrubs their tokens out of the
    hypothesis and the name. Retention keeps exposures as long as outcomes."""
    if not apps.is_installed("apps.compliance"):
        return
    from apps.compliance.fingerprints import register_linked_fields
    from apps.compliance.registry import (
        ErasureTarget,
        RetentionTarget,
        by_workspace,
        register_erasure_target,
        register_retention_target,
    )

    register_linked_fields("experiments.Experiment", ("name", "hypothesis", "release_notes"))
    register_erasure_target(
        ErasureTarget(
            "experiments.Experiment",
            ("name", "hypothesis", "release_notes"),
            by_workspace(),
            action="scrub",
        )
    )
    register_erasure_target(
        ErasureTarget(
            "experiments.Exposure",
            ("unit_hash",),
            by_workspace(),
            action="delete",
            needles=unit_hashes,
        )
    )
    register_retention_target(
        RetentionTarget("experiments.Exposure", "Experiment exposures", 365, _exposed_before)
    )


def register_reviews() -> None:
    """Promotions of a winner (`experiment_result`) and starts that need approval
    (`experiment_start`) are decided in the review queue (apps.experiments.reviewing)."""
    from apps.experiments.reviewing import register

    register()


def _opened_request(event: dict[str, Any]) -> list[tuple[str, str]]:
    after = event["after"] if isinstance(event["after"], dict) else {}
    request = after.get("request")
    return [("reviews.reviewrequest", str(request))] if request else []


def unit_hashes(subject: Any) -> list[str]:
    """Each identifier of the subject hashed as an experiment unit, as assignment does."""
    from apps.signals.services import subject_hash

    values = {value for items in subject.values.values() for value in items}
    return sorted(subject_hash("unit", value) for value in values)


def _exposed_before(workspace_id: int, cutoff: Any) -> Any:
    from apps.experiments.models import Exposure

    return Exposure._base_manager.filter(workspace_id=workspace_id, created_at__lt=cutoff)
