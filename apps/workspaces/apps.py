from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "apps.workspaces"
    label = "workspaces"
    verbose_name = "Workspaces and access"

    def ready(self) -> None:
        register_pii_fields()


def register_pii_fields() -> None:
    """Tenancy's text fields in the PII field registry (apps.privacy.registry): names and
    descriptions are masked by apps.workspaces.services, slugs refused when they hold PII."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    for name in ("name", "slug"):
        register_masked_field("workspaces.Workspace", name, workspace_field="pk")
        register_masked_field("workspaces.Team", name)
    for name in ("name", "slug", "description"):
        register_masked_field("workspaces.Agent", name)
    for name in ("name", "revoked_reason"):
        register_masked_field("workspaces.AgentToken", name, workspace_field="agent__workspace")
    register_exempt_fields("workspaces.Membership", ("role",), reason="a choice of Role")
    register_exempt_fields(
        "workspaces.AgentToken",
        ("prefix", "secret_hash", "scopes"),
        reason="made by the service: random hex prefix, SHA-256 of the secret, scopes checked "
        "against the fixed vocabulary (validate_scopes)",
    )
