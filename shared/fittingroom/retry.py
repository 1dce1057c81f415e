"""Retry with exponential backoff, jitter and an overall deadline.

Transient faults — object storage restarting, a broker electing a leader, a reset
connection — should cost a short wait, not a failed request (docs/design.md §6). One small
policy object is shared by the MinIO store and the Kafka bus so both back off the
same way, and tests can shrink the waits without touching the callers.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

from fittingroom.errors import RetryError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry a transient failure.

    The n-th wait is ``min(max_delay_s, initial_delay_s * multiplier**n)``, shrunk by
    a random fraction up to ``jitter`` (so many clients do not retry in lockstep).
    No new attempt starts once ``deadline_s`` has passed since the first one;
    ``deadline_s=0`` means a single attempt.
    """

    deadline_s: float = 20.0
    initial_delay_s: float = 0.1
    max_delay_s: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.deadline_s < 0 or self.initial_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry times must not be negative")
        if self.multiplier < 1.0:
            raise ValueError("retry multiplier must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("retry jitter must be within 0..1")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The endless sequence of waits between attempts (deadline not applied)."""
        rng = rng or random.Random()
        base = self.initial_delay_s
        while True:
            capped = min(self.max_delay_s, base)
            yield capped * (1.0 - self.jitter * rng.random())
            base *= self.multiplier


NO_RETRY = RetryPolicy(deadline_s=0.0)



def retry_call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fn`` until it succeeds, retrying errors ``is_transient`` accepts.

    A non-transient error propagates at once. A transient one is retried after the
    policy's next delay (cut short so the last attempt starts at the deadline); once
    the deadline has passed, :class:`RetryError` is raised with the last error as
    ``__cause__``. ``on_retry``
    (attempt number, error, wait) lets callers log or count retries.
    """
    start = clock()
    delays = policy.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as err:
            if not is_transient(err):
                raise
            elapsed = clock() - start
            remaining = policy.deadline_s - elapsed
            if remaining <= 0:
                raise RetryError(attempt, elapsed, err) from err
            wait = min(next(delays), remaining)
            if on_retry is not None:
                on_retry(attempt, err, wait)
            sleep(wait)
