from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "apps.reviews"
    label = "reviews"
    verbose_name = "Review queue"

    def ready(self) -> None:
        register_pii_fields()


def register_pii_fields() -> None:
    """The queue's text fields in the PII field registry (apps.privacy.registry)."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    request = "reviews.ReviewRequest"
    register_masked_field(request, "details", kind="json")
    for name in ("reason", "decided_by_label"):
        register_masked_field(request, name)
    for name in ("original", "edited", "diff"):
        register_masked_field("reviews.EditPair", name, workspace_field="request__workspace")
    register_exempt_fields(
        request, ("kind", "tier", "status", "decision"), reason="a choice (kind, tier, status)"
    )
    register_exempt_fields(
        "reviews.ReviewSettings", ("four_eyes_tiers",), reason="a list of tier choices"
    )
