"""The simulator's clock: simulated = start + scale × elapsed real seconds, never past real now (pure).

Events may not be stamped in the future: the ingest API refuses anything more than
IOC_FUTURE_TOLERANCE_SECONDS ahead of its own clock. An accelerated clock therefore replays the
*past*: it starts `backfill` before the first reading of real time, runs `scale` times faster
than real time, and from the moment it reaches real time it follows it (scale 1). With
scale S > 1 and a backfill W it catches up after W / (S − 1) real seconds (real time moves on
meanwhile). Deadlines, office hours and holidays are all reckoned in simulated time, so a
replayed week has its Monday-morning queue, its quiet Sunday and its Tết like a live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SimClock:
    start: datetime  # simulated time at elapsed 0
    scale: float  # simulated seconds per real second until caught up

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.scale <= 0:
            raise ValueError("scale must be > 0")

    @classmethod
    def replaying(cls, now: datetime, backfill: timedelta, scale: float) -> SimClock:
        """A clock that replays the `backfill` before `now` and then follows real time."""
        return cls(now - backfill, scale)

    def reading(self, elapsed: float, now: datetime) -> datetime:
        """Simulated time after `elapsed` real seconds, when real time is `now`."""
        return min(self.start + timedelta(seconds=self.scale * max(elapsed, 0.0)), now)

    def catch_up_seconds(self, first_now: datetime) -> float | None:
        """Real seconds until the clock reaches real time (None: it never does, scale <= 1)."""
        lag = (first_now - self.start).total_seconds()
        if lag <= 0:
            return 0.0
        if self.scale <= 1:
            return None
        return lag / (self.scale - 1)
