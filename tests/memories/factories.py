"""Memory rows straight into the database (no service, no audit), for read-side tests.

Writes that must be governed go through apps.memories.services in the tests themselves.
"""

from __future__ import annotations

from typing import Any

import factory
from django.conf import settings
from django.utils import timezone

from apps.memories.embeddings.hashing import hashed_vector
from apps.memories.models import MemoryItem, MemoryType, Status, Tier
from apps.memories.services import memory_types_ensure
from tests.workspaces.factories import WorkspaceFactory


def memory_type(workspace: Any, key: str = "learning") -> MemoryType:
    memory_types_ensure(workspace)
    return MemoryType.objects.get(workspace=workspace, key=key)


class MemoryItemFactory(factory.django.DjangoModelFactory):
    """`MemoryItemFactory(workspace=ws, content="...")`: an approved workspace-tier learning.

    The embedding is the hashing embedder's vector of the content unless one is given.
    """

    class Meta:
        model = MemoryItem

    workspace = factory.SubFactory(WorkspaceFactory)
    tier = Tier.WORKSPACE
    agent = None
    team = None
    type = factory.LazyAttribute(lambda o: memory_type(o.workspace))
    content = factory.Sequence(lambda n: f"Memory number {n} about pricing and onboarding")
    embedding = factory.LazyAttribute(
        lambda o: hashed_vector(o.content, settings.EMBEDDING_DIMENSIONS)
    )
    importance = 0.5
    confidence = 0.5
    status = Status.APPROVED
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)
