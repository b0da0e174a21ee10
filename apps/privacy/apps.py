from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "apps.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from apps.privacy import keyring, policies

        register_pii_fields()
        setting_changed.connect(keyring.on_setting_changed)
        setting_changed.connect(policies.on_setting_changed)


def register_pii_fields() -> None:
    """Privacy's own text fields; every other app registers its own (apps.privacy.registry)."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    register_masked_field("privacy.PiiScanJob", "error")
    register_exempt_fields(
        "privacy.PiiScanJob", ("status", "current_field"), reason="a status, a registry label"
    )
    register_exempt_fields(
        "privacy.PrivacyPolicy",
        ("entities", "operators", "default_operator", "phone_regions"),
        reason="checked against fixed vocabularies: entity types, operators, ISO regions",
    )
    register_exempt_fields(
        "privacy.PrivacyPolicy",
        ("allow_values", "allow_patterns"),
        reason="the allow-list: values and patterns the workspace chose to leave unmasked",
    )
