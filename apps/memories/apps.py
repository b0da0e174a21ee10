from typing import Any

from django.apps import AppConfig


def _clear_provider(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("EMBEDDING_"):
        from apps.memories.embeddings import get_provider

        get_provider.cache_clear()


class MemoriesConfig(AppConfig):
    name = "apps.memories"
    label = "memories"
    verbose_name = "Memories"

    def ready(self) -> None:
        from django.test.signals import setting_changed

        setting_changed.connect(_clear_provider, dispatch_uid="memories-embedding-provider")
        register_pii_fields()
        from apps.memories.reviewing.kind import MemoryReview
        from apps.reviews.kinds import register_review_kind

        register_review_kind(MemoryReview())


def register_pii_fields() -> None:
    """Memories' text fields in the PII field registry (apps.privacy.registry): the services
    mask content, reasons, labels and trace ids, and refuse tags and entities holding PII."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    item, version = "memories.MemoryItem", "memories.MemoryVersion"
    for label, workspace_field in ((item, "workspace"), (version, "item__workspace")):
        register_masked_field(label, "content", workspace_field=workspace_field)
        register_masked_field(label, "tags", kind="array", workspace_field=workspace_field)
        register_masked_field(label, "entities", kind="json", workspace_field=workspace_field)
    register_masked_field(item, "source_trace_id")
    register_masked_field(item, "provenance", kind="json")
    for name in ("actor_label", "reason"):
        register_masked_field(version, name, workspace_field="item__workspace")
    register_masked_field("memories.ContextAssembly", "trace_id")
    register_masked_field("memories.ContextAssembly", "task_text")
    register_masked_field("memories.ContextAssembly", "filters", kind="json")
    choices = "a choice (tier, status, source, strategy)"
    register_exempt_fields(item, ("tier", "status", "source"), reason=choices)
    register_exempt_fields("memories.ContextAssembly", ("strategy",), reason=choices)
    register_exempt_fields("memories.MemoryConflict", ("status",), reason=choices)
    register_exempt_fields(version, ("actor_kind", "actor_id"), reason="actor kind and id")
    register_exempt_fields(
        item,
        ("embedder",),
        reason="the embedder's name from the settings (provider/model/size), never input",
    )
    register_exempt_fields(
        "memories.MemoryConflict",
        ("reason",),
        reason="a fixed sentence of the contradiction heuristic, with numbers of masked contents",
    )
    register_exempt_fields(
        "memories.MemoryType",
        ("key", "label", "default_ttl_days"),
        reason="the type vocabulary, seeded from DEFAULT_MEMORY_TYPES (memory_types_ensure)",
    )
    register_exempt_fields(
        "memories.WritePolicy",
        ("rules",),
        reason="auto-approve conditions of fixed keys: tiers, kinds, sources, types, numbers",
    )
    policy_version = "memories.WritePolicyVersion"
    for name in ("reason", "actor_label"):
        register_masked_field(policy_version, name)
    register_exempt_fields(policy_version, ("actor_kind", "actor_id"), reason="actor kind and id")
    register_exempt_fields(
        policy_version,
        ("before", "after"),
        reason="the policy before and after: auto-approve conditions of fixed keys and a number",
    )
