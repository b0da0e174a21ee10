"""cyclic_gc_paused: the collector is off inside and back as it was after, errors included."""

from __future__ import annotations

import gc

import pytest

from apps.core.gcpause import cyclic_gc_paused, without_cyclic_gc


@pytest.fixture
def restore_gc():
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_after(restore_gc):
    gc.enable()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_is_back_on_after_an_error(restore_gc):
    gc.enable()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_off_before_stays_off(restore_gc):
    gc.disable()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_the_decorator_pauses_for_the_handler_and_keeps_its_result(restore_gc):
    gc.enable()

    @without_cyclic_gc
    def handler(value: int) -> tuple[int, bool]:
        return value * 2, gc.isenabled()

    assert handler(21) == (42, False)
    assert handler.__name__ == "handler"
    assert gc.isenabled()


def test_the_batch_endpoint_runs_with_the_collector_paused(cast, monkeypatch, restore_gc):
    from apps.memories import services
    from tests.memories.api_world import build_world

    seen: list[bool] = []
    real = services.memory_write_batch

    def spy(**kwargs):
        seen.append(gc.isenabled())
        return real(**kwargs)

    monkeypatch.setattr(services, "memory_write_batch", spy)
    gc.enable()
    item = {"content": "Buyers like demos", "type": "learning", "tier": "personal"}

    response = (
        build_world(cast)
        .client("agent_full")
        .post("/api/v1/memories/batch", {"items": [item]}, format="json")
    )

    assert response.status_code == 200, response.content[:300]
    assert seen == [False]
    assert gc.isenabled()
