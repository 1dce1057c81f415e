"""A bounded least-recently-used map, for style-side work keyed by content hash."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    """At most ``capacity`` entries; the least recently used one goes first.

    An empty key is never stored or found (a photo without a content hash is not
    cacheable). Safe to share between threads.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            if not key or key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: str, value: V) -> None:
        if not key or self.capacity <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get_valid(self, key: str, valid: Callable[[V], bool]) -> V | None:
        """:meth:`get`, but an entry that fails ``valid`` (its stored object is gone) is dropped and missed."""
        value = self.get(key)
        if value is not None and not valid(value):
            with self._lock:
                self._items.pop(key, None)
            return None
        return value

    def __len__(self) -> int:
        return len(self._items)
