from typing import Any

from django.apps import AppConfig


def _clear_provider(*, setting: str, **kwargs: Any) -> None:
    if setting in {"EMBEDDING_PROVIDER", "EMBEDDING_DIMENSIONS"}:
        from apps.memories.embeddings import get_provider

        get_provider.cache_clear()


class MemoriesConfig(AppConfig):
    name = "apps.memories"
    label = "memories"
    verbose_name = "Memories"

    def ready(self) -> None:
        from django.test.signals import setting_changed

        setting_changed.connect(_clear_provider, dispatch_uid="memories-embedding-provider")
