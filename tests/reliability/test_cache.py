"""The Redis cache degrades to misses while Redis is down (apps/core/cache.py)."""

from __future__ import annotations

import time

import pytest

from apps.core.cache import ResilientRedisCache


def _cache(url: str) -> ResilientRedisCache:
    return ResilientRedisCache(
        url, {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    )


def test_it_is_a_normal_cache_while_redis_answers(redis_server):
    cache = _cache(redis_server.url)

    cache.set("k", {"v": 1}, timeout=60)
    assert cache.get("k") == {"v": 1}
    assert cache.add("k", 2) is False
    assert cache.add("n", 1) is True
    assert cache.incr("n") == 2
    assert cache.get_many(["k", "missing"]) == {"k": {"v": 1}}
    assert cache.delete("k") is True


def test_reads_miss_and_writes_are_dropped_quickly_while_redis_is_down(redis_server):
    cache = _cache(redis_server.url)
    cache.set("k", "kept")
    redis_server.stop()

    started = time.monotonic()
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["k"]) == {}
    cache.set("k", "dropped")
    assert cache.add("k", "dropped") is False
    assert cache.has_key("k") is False
    assert cache.delete("k") is False
    with pytest.raises(ValueError):
        cache.incr("k")
    assert time.monotonic() - started < 2

    # and once Redis is back (its data gone: no persistence), it is used again
    redis_server.start()
    cache.set("k", "new")
    assert cache.get("k") == "new"
