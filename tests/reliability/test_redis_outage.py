"""A Redis outage: writes go on, and what they queued runs once Redis is back.

The web side is this test process with the production Redis configuration (broker for the
outbox's publish, Django cache for throttling and policy versions); the worker, with beat and
the outbox relay, is a real process on the same redis-server.
"""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from apps.audit.models import AuditEvent
from apps.core.models import OutboxMessage
from apps.memories.vector_indexes import index_name, workspace_indexes, workspace_indexes_drop_all
from tests.memories.api_world import build_world
from tests.reliability.conftest import wait_for

pytestmark = pytest.mark.slow

WRITE_BUDGET_S = 2.0


@pytest.fixture
def production_cache(redis_broker):
    redis_cache = {
        "BACKEND": "apps.core.cache.ResilientRedisCache",
        "LOCATION": redis_broker.url,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    with override_settings(CACHES={"default": redis_cache}, MEMORY_INDEX_CHECK_DELAY_SECONDS=0):
        yield redis_broker


@pytest.fixture
def no_workspace_indexes():
    yield
    workspace_indexes_drop_all()


def test_a_memory_write_while_redis_is_stopped_succeeds_and_its_follow_up_runs_when_it_returns(
    cast, production_cache, start_worker, no_workspace_indexes
):
    # given a worker with beat (the outbox relay every second) and an index threshold of 0, so
    # the follow-up of any approved write builds the workspace's HNSW index
    redis = production_cache
    worker = start_worker(
        redis,
        beat=True,
        OUTBOX_RELAY_SECONDS="1",
        MEMORY_WORKSPACE_INDEX_MIN_ROWS="0",
        MEMORY_INDEX_CHECK_DELAY_SECONDS="0",
    )
    agent = build_world(cast).client("agent_full")
    assert agent.get("/api/v1/memories").status_code == 200  # a warm process, as in production
    assert cast.workspace.pk not in {i.workspace_id for i in workspace_indexes()}

    # when Redis stops and an agent writes a memory through the API
    redis.stop()
    started = time.monotonic()
    response = agent.post(
        "/api/v1/memories",
        {
            "content": "Buyers like short demos",
            "type": "learning",
            "tier": "personal",
            "confidence": 0.9,
        },
        format="json",
    )
    took = time.monotonic() - started

    # then the write succeeds within the budget, and its follow-up waits in the outbox
    assert response.status_code == 201, response.content
    assert response.json()["outcome"] == "created"
    assert took < WRITE_BUDGET_S, f"the write took {took:.2f}s with Redis stopped"
    pending = OutboxMessage.objects.get()
    assert pending.task_name == "memories.workspace_indexes_sync"
    assert pending.kwargs == {"workspace_id": cast.workspace.pk}
    assert pending.attempts == 1  # the publish at commit was refused, quickly

    # when Redis returns
    redis.start()

    # then the worker reconnects, the relay sends the follow-up and the index gets built (its
    # audit event is written once the build is done)
    built = AuditEvent.objects.filter(
        action="memory.index.build", object_id=index_name(cast.workspace.pk)
    )
    wait_for(
        built.exists,
        90,
        "the follow-up to build the workspace's index",
        every=0.5,
        log=worker.output,
    )
    assert cast.workspace.pk in {i.workspace_id for i in workspace_indexes() if i.valid}
    assert built.count() == 1
    assert not OutboxMessage.objects.exists()
