"""How long to wait before trying a source again: exponential backoff with full jitter, or what
the source asked for in Retry-After. Pure: the random source and the clock are passed in."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ioc.retry_after import retry_after_seconds

__all__ = ["RetryPolicy", "retry_after_seconds"]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # tries per page, the first included
    base_seconds: float = 0.5
    cap_seconds: float = 60.0
    max_retry_after_seconds: float = 600.0  # a source asking for longer is waited for this long
    timeout_seconds: float = 30.0  # per request

    def delay(self, retry: int, rng: random.Random) -> float:
        """Before retry number `retry` (1 for the first): uniform in [0, min(cap, base·2^(retry-1))].

        Full jitter spreads the retries of many pollers hitting one recovering source.
        """
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (retry - 1))
        return rng.uniform(0, ceiling)

    def wait_for(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_seconds)
        return self.delay(retry, rng)
