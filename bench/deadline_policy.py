"""The statutory deadline under each deadline policy against the arithmetic before policies, same run.

    .venv/bin/python -m bench.deadline_policy [--receipts 100000] [--rounds 7]

The fold computes a statutory deadline for every receipt and every resumed pause (tens of
thousands a second), so the policy must not slow the default path. Peer: the pre-policy formula
``add_working_days`` then ``add_working_seconds`` for the pause, on the built-in calendar.
Variants: ``statutory_due`` on the built-in policy (its fast path), on ``end_of_day``, on
``clock`` with a 16:30 cut-off, and on two sessions (07:30–11:30, 13:30–17:00). The same
receipts (random instants over 2026–2027, 1–20 working days, a pause on one in three) for all.
Each round times every variant back to back; reported: median and spread (min–max) in µs per
deadline, the ratio of medians and the median of per-round ratios. No assertions.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from alerts.calendar import DeadlinePolicy, OfficeHours, WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
Receipt = tuple[datetime, int, int]


def receipts(n: int, seed: int = 12) -> list[Receipt]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=VN)
    out = []
    for _ in range(n):
        t = start + timedelta(seconds=rng.randrange(0, 2 * 365 * 86400))
        out.append((t, rng.randrange(1, 21), rng.randrange(1, 30 * 3600) if rng.random() < 1 / 3 else 0))
    return out


def old_formula(calendar: WorkingCalendar) -> Callable[[Receipt], datetime]:
    def due(r: Receipt) -> datetime:
        base = calendar.add_working_days(r[0], r[1])
        return calendar.add_working_seconds(base, r[2]) if r[2] else base

    return due


def policy_due(calendar: WorkingCalendar) -> Callable[[Receipt], datetime]:
    def due(r: Receipt) -> datetime:
        return calendar.statutory_due(r[0], r[1], r[2])

    return due


def timed(fn: Callable[[Receipt], datetime], work: list[Receipt]) -> float:
    t0 = time.perf_counter()
    for r in work:
        fn(r)
    return (time.perf_counter() - t0) / len(work) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    work = receipts(args.receipts)
    builtin = WorkingCalendar()
    end_of_day = WorkingCalendar(policy=DeadlinePolicy(due_instant="end_of_day"))
    cut_off = WorkingCalendar(policy=DeadlinePolicy(cut_off=clock_time(16, 30)))
    two_sessions = OfficeHours(clock_time(7, 30), clock_time(17), clock_time(11, 30), clock_time(13, 30))
    sessions = WorkingCalendar(policy=DeadlinePolicy(hours=two_sessions))
    variants: dict[str, Callable[[Receipt], datetime]] = {
        "peer: add_working_days (+ pause)": old_formula(builtin),
        "statutory_due, built-in (clock)": policy_due(builtin),
        "statutory_due, end_of_day": policy_due(end_of_day),
        "statutory_due, clock + cut-off": policy_due(cut_off),
        "statutory_due, two sessions": policy_due(sessions),
    }
    for fn in variants.values():  # warm the calendars' year caches outside the timing
        timed(fn, work[:1000])
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            times[name].append(timed(fn, work))
    peer = next(iter(variants))
    print(f"statutory deadline: {args.receipts:,} receipts x {args.rounds} rounds; Python "
          f"{sys.version.split()[0]}, {platform.machine()}, {os.cpu_count()} CPUs")  # fmt: skip
    base = statistics.median(times[peer])
    for name, samples in times.items():
        per_round = [s / p for s, p in zip(samples, times[peer], strict=True)]
        print(f"  {name:34} median {statistics.median(samples):6.2f} µs (spread {min(samples):.2f}–"
              f"{max(samples):.2f}), x{statistics.median(samples) / base:.2f} of peer; per-round ratio median "
              f"x{statistics.median(per_round):.2f} ({min(per_round):.2f}–{max(per_round):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
