"""The token bucket, step by step against a fake clock."""

from __future__ import annotations

import pytest

from ioc.api.ratelimit import RateLimiter, retry_after_header


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Step = tuple[float, str, float, float]  # (clock, key, cost, expected wait)

SCENARIOS: dict[str, tuple[float, int, list[Step]]] = {
    # name: (rate per second, burst, steps)
    "a burst is allowed, then refused until a token refills": (
        1.0,
        3,
        [(0, "a", 1, 0), (0, "a", 1, 0), (0, "a", 1, 0), (0, "a", 1, 1.0), (0.25, "a", 1, 0.75), (1, "a", 1, 0)],
    ),
    "a refusal consumes nothing": (
        2.0,
        1,
        [(0, "a", 1, 0), (0, "a", 1, 0.5), (0, "a", 1, 0.5), (0.5, "a", 1, 0)],
    ),
    "keys have their own buckets": (
        1.0,
        1,
        [(0, "a", 1, 0), (0, "a", 1, 1.0), (0, "b", 1, 0), (0, "b", 1, 1.0)],
    ),
    "refill stops at the burst": (
        1.0,
        2,
        [(0, "a", 2, 0), (100, "a", 1, 0), (100, "a", 1, 0), (100, "a", 1, 1.0)],
    ),
    "a costly request waits for enough tokens": (
        4.0,
        8,
        [(0, "a", 6, 0), (0, "a", 4, 0.5), (0.5, "a", 4, 0), (0.5, "a", 0.5, 0.125)],
    ),
    "a zero-cost check is always allowed": (
        1.0,
        1,
        [(0, "a", 1, 0), (0, "a", 0, 0), (0, "a", 1, 1.0)],
    ),
    "a clock stepping back does not drain or refill": (
        1.0,
        2,
        [(10, "a", 2, 0), (5, "a", 1, 1.0), (6, "a", 1, 0)],
    ),
}


@pytest.mark.parametrize(("rate", "burst", "steps"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_scenarios(rate: float, burst: int, steps: list[Step]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, burst, clock=clock)
    for at, key, cost, expected in steps:
        clock.now = 1000.0 + at
        assert limiter.check(key, cost) == pytest.approx(expected), (at, key, cost)


def test_memory_is_bounded_by_max_keys() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, 5, clock=clock, max_keys=100)
    for i in range(1000):
        assert limiter.check(f"client-{i}") == 0
        assert len(limiter) <= 100
    # The most recently seen keys kept their (partly spent) buckets.
    assert limiter.check("client-999", 5) == pytest.approx(1.0)


def test_the_least_recently_used_key_is_the_one_evicted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0.001, 1, clock=clock, max_keys=2)
    limiter.check("a")
    limiter.check("b")
    assert limiter.check("a") > 0  # touches "a": "b" is now the least recently used
    limiter.check("c")  # over max_keys: "b" goes
    assert limiter.check("a") > 0  # "a" kept its empty bucket
    assert limiter.check("b") == 0  # "b" starts afresh (the documented price of the bound)


def test_idle_buckets_that_refilled_are_dropped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, 2, clock=clock)
    for key in ("a", "b", "c"):
        limiter.check(key)
    clock.now += 10  # all three refilled: they carry no information any more
    for i in range(3):
        limiter.check(f"new-{i}")
    assert len(limiter) <= 3
    assert limiter.check("a") == 0  # and a dropped key is served as a new one, the same answer


@pytest.mark.parametrize(
    ("rate", "burst", "max_keys"),
    [(0, 1, 10), (-1, 1, 10), (float("inf"), 1, 10), (float("nan"), 1, 10), (1, 0, 10), (1, 1, 0)],
)
def test_bad_settings_are_refused(rate: float, burst: int, max_keys: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, max_keys=max_keys)


@pytest.mark.parametrize("cost", [-1.0, 3.5])
def test_a_cost_that_could_never_be_paid_is_an_error(cost: float) -> None:
    with pytest.raises(ValueError, match="cost"):
        RateLimiter(1.0, 3).check("a", cost)


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")])
def test_retry_after_header_rounds_up_to_whole_seconds(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header
