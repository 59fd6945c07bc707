"""The one in-memory TTL cache used for TMDB pages, indexer searches and short-lived job reads.

A warm Lambda keeps module state between invocations, so a per-process cache saves upstream calls
without any infrastructure. It is bounded (least recently used entries go first) so a long-lived process
cannot grow without limit, thread-safe because the local server and the downloader use threads, and the
clock is injectable so tests can move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

Clock = Callable[[], float]


class TTLCache(Generic[T]):
    """Maps keys to values that expire ``ttl`` seconds after they were stored."""

    def __init__(self, max_entries: int = 1024, clock: Clock = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        """The live value for ``key``, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, value = entry
            if expires_at <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: Hashable, value: T, ttl: float) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def get_or_load(self, key: Hashable, ttl: float, load: Callable[[], T]) -> T:
        """The cached value, or ``load()``'s result stored for ``ttl`` seconds.

        Failures are not cached: an exception from ``load`` propagates and the next call tries again.
        """
        value = self.get(key)
        if value is None:
            value = load()
            self.set(key, value, ttl)
        return value

    def invalidate(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
