"""Per-tenant quotas: a call rate (token bucket), requests in flight and open streams.

One shop's burst must not slow the others down: each tenant has its own
bucket and counters, and a call over any of them is refused at once with
:class:`OverloadedError`, whose ``retry_after_ms`` tells the shop when to retry.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from fittingroom.errors import OverloadedError

BUSY_RETRY_AFTER_MS = 1000


@dataclass
class TokenBucket:
    """``rate`` tokens a second up to ``burst``; a call takes one."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 when one was there, else the seconds until the next one."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class TenantQuotas:
    """The gateway's per-tenant limits; thread-safe."""

    def __init__(self, rate_per_s: float, burst: int, max_in_flight: int, max_streams: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_in_flight = max_in_flight
        self.max_streams = max_streams
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._in_flight: defaultdict[str, int] = defaultdict(int)
        self._streams: defaultdict[str, int] = defaultdict(int)

    def admit(self, tenant: str) -> None:
        """Count one call against the tenant's rate; OverloadedError when its bucket is empty."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.setdefault(tenant, TokenBucket(self.rate_per_s, self.burst, self.burst, now))
            wait_s = bucket.take(now)
        if wait_s > 0.0:
            raise OverloadedError(f"tenant {tenant!r} is over its rate of {self.rate_per_s:g} calls/s",
                                  max(1, math.ceil(wait_s * 1000)))

    @contextmanager
    def in_flight(self, tenant: str, pending: int = 0) -> Iterator[None]:
        """Hold one of the tenant's in-flight slots; ``pending``: its requests already running elsewhere."""
        with self._held(self._in_flight, tenant, pending, self.max_in_flight, "requests in flight"):
            yield

    @contextmanager
    def stream(self, tenant: str) -> Iterator[None]:
        """Hold one of the tenant's open-stream slots."""
        with self._held(self._streams, tenant, 0, self.max_streams, "open streams"):
            yield

    @contextmanager
    def _held(self, counts: defaultdict[str, int], tenant: str, pending: int, limit: int, what: str) -> Iterator[None]:
        with self._lock:
            if counts[tenant] + pending >= limit:
                raise OverloadedError(f"tenant {tenant!r} has {limit} {what}, its most; retry later",
                                      BUSY_RETRY_AFTER_MS)
            counts[tenant] += 1
        try:
            yield
        finally:
            with self._lock:
                counts[tenant] -= 1
