"""A token-bucket rate limiter keyed by string (a client address, an account, a source key id).

Pure: the clock is passed in, nothing is shared between processes. Each key's bucket holds up
to `burst` tokens and refills at `rate_per_second`; a request costs tokens, and a refused one
learns how long to wait (the Retry-After). Memory is bounded: buckets live in least-recently-used
order, a bucket idle long enough to have refilled is indistinguishable from a new one and is
dropped, and past `max_keys` the least recently used bucket is dropped even if not yet full (that
key then gets a fresh burst, which is the price of a hard bound under a flood of new keys).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# Full buckets dropped per call at most: keeps each check O(1) while idle keys drain away.
_PRUNE_PER_CHECK = 2


class RateLimiter:
    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if not (rate_per_second > 0 and math.isfinite(rate_per_second)):
            raise ValueError("rate_per_second must be a positive number")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rate = float(rate_per_second)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()  # cheap, and makes the limiter safe from worker threads too
        # key → (tokens after the last check, time of that check); least recently used first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str, cost: float = 1.0) -> float:
        """0.0 when allowed (the cost is taken), else the seconds until it would be allowed."""
        if not (0 <= cost <= self.burst):
            # A cost above the burst could never be paid: that is a programming error, not a refusal.
            raise ValueError(f"cost must be between 0 and the burst ({self.burst:g})")
        with self._lock:
            now = self._clock()
            tokens = self._tokens(key, now)
            if tokens >= cost:
                tokens -= cost
                wait = 0.0
            else:
                wait = (cost - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            self._buckets.move_to_end(key)
            self._evict(now)
            return wait

    def _tokens(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return self.burst
        tokens, updated_at = bucket
        # max(): a clock that steps back must not drain the bucket.
        return min(self.burst, tokens + max(0.0, now - updated_at) * self.rate)

    def _evict(self, now: float) -> None:
        for _ in range(_PRUNE_PER_CHECK):
            oldest = next(iter(self._buckets), None)
            if oldest is None or self._tokens(oldest, now) < self.burst:
                break
            del self._buckets[oldest]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


def retry_after_header(wait_seconds: float) -> str:
    """The Retry-After header value for a wait: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_seconds)))
