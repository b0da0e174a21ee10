"""cyclic_gc_paused: the collector is off inside and back as it was after, errors included."""

from __future__ import annotations

import gc
import threading

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


def test_overlapping_pauses_in_threads_keep_it_off_until_the_last_ends(restore_gc):
    # Given the collector on, and two requests of a threaded worker that overlap: A starts,
    # B starts, A ends while B still runs
    gc.enable()
    a_in, b_in, a_out, b_may_end = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}

    def request_a() -> None:
        with cyclic_gc_paused():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def request_b() -> None:
        a_in.wait(5)
        with cyclic_gc_paused():
            b_in.set()
            a_out.wait(5)
            seen["b after a ended"] = gc.isenabled()
            b_may_end.wait(5)

    threads = [threading.Thread(target=request_a), threading.Thread(target=request_b)]
    for thread in threads:
        thread.start()
    a_out.wait(5)
    b_may_end.set()
    for thread in threads:
        thread.join(5)

    # Then the collector stayed off under B after A ended, and is on again after both
    assert seen == {"b after a ended": False}
    assert gc.isenabled()


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
