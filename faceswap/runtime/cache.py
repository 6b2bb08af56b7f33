"""A small thread-safe LRU cache with hit and miss counts."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["LruCache", "content_key"]

V = TypeVar("V")


def content_key(data: bytes) -> str:
    """A digest of `data` to key caches by content, not by URL."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class LruCache(Generic[V]):
    """Least-recently-used mapping of at most `capacity` entries; capacity 0 keeps nothing."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value for `key`, marked as recently used, or None."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            self.misses += 1
            return None

    def __contains__(self, key: Hashable) -> bool:
        """Whether `key` is held, without marking it used or counting a hit or a miss."""
        with self._lock:
            return key in self._entries

    def put(self, key: Hashable, value: V) -> None:
        """Store `value`, evicting the least recently used entry beyond capacity."""
        if self.capacity <= 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
