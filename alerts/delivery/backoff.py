"""When to try a failed message again, and when to give up: pure, so tests pin every number."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.delivery.errors import DeliveryError, PermanentError, TemporaryError

__all__ = ["Dead", "Retry", "RetryPolicy", "decide"]

# A receiver's Retry-After is honoured, but not beyond a day: a typo there must not bury a message.
MAX_RETRY_AFTER_S = 86_400.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_backoff_s: float = 5.0
    max_backoff_s: float = 900.0

    def delay(self, attempts: int, jitter: float) -> float:
        """Seconds to wait after the ``attempts``-th failed try: base·2^(n-1), capped, then jittered.

        ``jitter`` in [0, 1) spreads the wait over [½·d, d) ("equal jitter"), so the messages of
        one outage do not all come back at the same instant, yet none comes back much too early.
        """
        exponent = min(max(attempts - 1, 0), 60)
        capped = min(self.max_backoff_s, self.base_backoff_s * 2.0**exponent)
        return capped * (0.5 + 0.5 * jitter)


@dataclass(frozen=True)
class Retry:
    available_at: datetime
    error: str


@dataclass(frozen=True)
class Dead:
    error: str


def decide(
    error: DeliveryError, attempts: int, now: datetime, policy: RetryPolicy, jitter: float | None = None
) -> Retry | Dead:
    """What to do with a message whose ``attempts``-th try failed with ``error``."""
    message = str(error) or type(error).__name__
    if isinstance(error, PermanentError):
        return Dead(message)
    if attempts >= policy.max_attempts:
        return Dead(f"{message} (gave up after {attempts} attempts)")
    wait = policy.delay(attempts, random.random() if jitter is None else jitter)
    if isinstance(error, TemporaryError) and error.retry_after is not None:
        wait = max(wait, min(error.retry_after, MAX_RETRY_AFTER_S))
    return Retry(now + timedelta(seconds=wait), message)
