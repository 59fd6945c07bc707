"""The TTL cache: values expire, the size is bounded, failures are not remembered."""

from __future__ import annotations

import pytest

from chalicelib.cache import TTLCache
from tests.conftest import FakeClock


def test_value_lives_until_its_ttl() -> None:
    clock = FakeClock()
    cache: TTLCache[str] = TTLCache(clock=clock)
    cache.set("k", "v", ttl=60)
    clock.advance(59.9)
    assert cache.get("k") == "v"
    clock.advance(0.1)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_get_or_load_loads_once_per_ttl() -> None:
    clock = FakeClock()
    cache: TTLCache[int] = TTLCache(clock=clock)
    calls: list[int] = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_load("k", 10, load) == 1
    assert cache.get_or_load("k", 10, load) == 1
    clock.advance(10)
    assert cache.get_or_load("k", 10, load) == 2
    assert len(calls) == 2


def test_failed_load_is_not_cached() -> None:
    cache: TTLCache[int] = TTLCache(clock=FakeClock())

    def fail() -> int:
        raise RuntimeError("upstream down")

    with pytest.raises(RuntimeError):
        cache.get_or_load("k", 10, fail)
    assert cache.get_or_load("k", 10, lambda: 5) == 5


def test_least_recently_used_entry_is_evicted_first() -> None:
    cache: TTLCache[int] = TTLCache(max_entries=2, clock=FakeClock())
    cache.set("a", 1, ttl=60)
    cache.set("b", 2, ttl=60)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.set("c", 3, ttl=60)
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3


def test_zero_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        TTLCache(max_entries=0)
