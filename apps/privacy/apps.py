from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "apps.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from apps.privacy import keyring, policies
        from apps.privacy.registry import register_masked_field

        # Tenancy's free text; memories and traces register theirs in their own ready().
        register_masked_field("workspaces.Agent", "description")
        setting_changed.connect(keyring.on_setting_changed)
        setting_changed.connect(policies.on_setting_changed)
