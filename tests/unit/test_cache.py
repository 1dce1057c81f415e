"""The bounded LRU map behind the style-side caches."""

from fittingroom.cache import LruCache


def test_least_recently_used_entry_is_evicted():
    cache: LruCache[int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_empty_keys_and_zero_capacity_store_nothing():
    cache: LruCache[int] = LruCache(2)
    cache.put("", 1)
    assert cache.get("") is None and len(cache) == 0
    off: LruCache[int] = LruCache(0)
    off.put("a", 1)
    assert off.get("a") is None
