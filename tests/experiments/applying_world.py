"""A world for the reading endpoints' experiments: relevant memories (one plain, one approved
and one proposed in a treatment's memory set), a prompt in production with a variant version,
running experiments over them, and units picked for each variant."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from apps.experiments import services
from apps.experiments.models import Experiment
from apps.memories.models import MemoryItem, Status
from tests.experiments.conftest import make
from tests.memories.factories import MemoryItemFactory
from tests.policies.conftest import artifact, in_production, version

CONTEXT = "/api/v1/context"
BUNDLE = "/api/v1/agents/me/bundle"
TASK = "Write a follow-up e-mail about pricing to a fintech prospect"
SET_TAG = "short-intro"


def agent_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def memory(cast: Any, content: str, **extra: Any) -> MemoryItem:
    return MemoryItemFactory(workspace=cast.workspace, content=content, **extra)


def memory_world(cast: Any) -> dict[str, MemoryItem]:
    return {
        "plain": memory(cast, "Pricing e-mail to a fintech prospect: lead with the ROI figure"),
        "approved": memory(
            cast, "Follow-up e-mail about pricing: keep it to three lines", tags=[SET_TAG]
        ),
        "proposed": memory(
            cast,
            "Fintech prospect follow-up: open with one sentence on pricing",
            tags=[SET_TAG],
            status=Status.PROPOSED,
        ),
    }


def memory_experiment(
    workspace: Any, key: str = "short-intro", *, start: bool = True, **changes: Any
) -> Experiment:
    variants = [
        {"key": "control", "is_control": True, "weight": 1},
        {"key": "short", "weight": 1, "memory_tag": SET_TAG},
    ]
    changes.setdefault("variants", variants)
    return make(workspace, key, start=start, **changes)


def prompt_world(cast: Any) -> dict[str, Any]:
    """The `opener` prompt: v1 in production, v2 a variant's; `tone` untouched by any."""
    opener = artifact(cast, "opener", kind="prompt")
    v1 = version(opener, "Say hello.")
    in_production(opener, v1)
    v2 = version(opener, "Say hello in five words.")
    tone = artifact(cast, "tone")
    in_production(tone, version(tone, "Write plainly."))
    return {"opener": opener, "v1": v1, "v2": v2, "tone": tone}


def prompt_experiment(workspace: Any, v2: Any, key: str = "opener-test", **changes: Any) -> Any:
    variants = [
        {"key": "control", "is_control": True, "weight": 1},
        {"key": "five-words", "weight": 1, "policy_versions": [v2.pk]},
    ]
    changes.setdefault("variants", variants)
    return make(workspace, key, start=True, **changes)


def unit_in(experiment: Experiment, variant: str, start: int = 0) -> str:
    """The first unit id (lead-<n>@example.test, from `start`) the experiment puts in
    `variant`, found with the same allocation the service uses."""
    allocation = services.Allocation(experiment.salt, list(experiment.variants.order_by("id")))
    for n in range(start, start + 500):
        unit = f"lead-{n}@example.test"
        if allocation.variant_for(services.unit_hash(unit)).key == variant:
            return unit
    raise AssertionError(f"no unit in {variant}")
