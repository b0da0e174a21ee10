from typing import Any

from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "apps.policies"
    label = "policies"
    verbose_name = "Policies, prompts and skills"

    def ready(self) -> None:
        from apps.policies.reviewing import PolicyVersionReview
        from apps.reviews.kinds import register_review_kind

        register_review_kind(PolicyVersionReview())
        register_pii_fields()
        register_audit()
        register_compliance()


def register_pii_fields() -> None:
    """Changelog messages, reasons and descriptions are free text people type: masked. A
    version's content is authored instructions (a disclaimer may carry the company's own
    address on purpose): masking it would change the rules agents must follow."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    register_masked_field("policies.ArtifactVersion", "message")
    register_masked_field("policies.LabelEvent", "reason")
    register_masked_field("policies.Artifact", "description")
    register_exempt_fields(
        "policies.Artifact",
        ("kind", "name", "pack_kind", "level"),
        reason="fixed vocabularies and a slug the author chose",
    )
    register_exempt_fields(
        "policies.ArtifactVersion",
        ("content",),
        reason="authored policy, prompt or skill: masking would change what agents follow",
    )
    register_exempt_fields(
        "policies.ArtifactVersion",
        ("content_hash", "author_label"),
        reason=(
            "a SHA-256 digest; the author's display label, masked on write like the audit "
            "trail's actor labels (versions are immutable, so the re-scan cannot rewrite it)"
        ),
    )
    register_exempt_fields("policies.Label", ("name",), reason="a label slug")
    register_exempt_fields(
        "policies.LabelEvent",
        ("label", "how", "actor_label"),
        reason="a label slug, a fixed vocabulary, the actor's display label (masked on write)",
    )
    register_exempt_fields("policies.PolicySettings", ("protected_labels",), reason="label slugs")


def register_audit() -> None:
    """Versions, labels and their history are written by services that audit the row they
    change; a label move's event names the label and, under after["history"], its history
    row."""
    from apps.audit.reconcile import event_rows_register, governed_model_register

    governed_model_register("policies.artifact")
    governed_model_register("policies.artifactversion")
    governed_model_register("policies.label")
    governed_model_register("policies.labelevent")
    governed_model_register("policies.policysettings", lazy_defaults=True, ignore={"revision"})
    for action in ("policy.label_move", "policy.rollback", "policy.label_remove"):
        event_rows_register(action, _history_row)


def _history_row(event: dict[str, Any]) -> list[tuple[str, str]]:
    after = event["after"] if isinstance(event["after"], dict) else {}
    history = after.get("history")
    return [("policies.labelevent", str(history))] if history else []


def register_compliance() -> None:
    """Erasure scrubs a data subject's tokens out of the masked free text (changelogs, reasons,
    descriptions); the versions and their history stay (the trigger lets the masked message
    change, nothing else). Saving that text links its fingerprints to the row."""
    from django.apps import apps

    if not apps.is_installed("apps.compliance"):
        return
    from apps.compliance.fingerprints import register_linked_fields
    from apps.compliance.registry import ErasureTarget, by_workspace, register_erasure_target

    for label, field in (
        ("policies.ArtifactVersion", "message"),
        ("policies.LabelEvent", "reason"),
        ("policies.Artifact", "description"),
    ):
        register_linked_fields(label, (field,))
        register_erasure_target(ErasureTarget(label, (field,), by_workspace(), action="scrub"))
