"""The connector's pure parts: retry delays, Retry-After, JSON paths, the credential header."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from ingest.connector.backoff import RetryPolicy, retry_after_seconds
from ingest.connector.config import ConnectorConfig, PathError, extract, next_cursor, page_items

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_backoff_grows_exponentially_within_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=8)
    rng = random.Random(1)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        waits = [policy.delay(retry, rng) for _ in range(200)]
        assert min(waits) >= 0 and max(waits) <= ceiling
        assert max(waits) > ceiling * 0.8  # spread over the whole range, not bunched at the bottom


def test_retry_after_is_honoured_up_to_a_limit() -> None:
    policy = RetryPolicy(max_retry_after_seconds=120)
    rng = random.Random(1)
    assert policy.wait_for(1, 30.0, rng) == 30.0
    assert policy.wait_for(1, 3600.0, rng) == 120.0
    assert policy.wait_for(1, None, rng) <= policy.base_seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 5 ", 5.0), ("Mon, 23 Nov 2026 12:01:30 GMT", 90.0), ("Mon, 23 Nov 2026 11:00:00 GMT", 0.0),
     ("soon", None), ("", None), (None, None)],
)  # fmt: skip
def test_retry_after_header_forms(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds


def test_json_paths_find_items_and_cursors() -> None:
    answer = {"data": {"records": [{"a": 1}]}, "paging": {"next": 42}, "pages": [{"items": []}]}
    assert page_items(answer, "data.records") == [{"a": 1}]
    assert extract(answer, "pages.0.items") == []
    assert page_items([{"a": 1}], "") == [{"a": 1}]  # a bare array
    assert next_cursor(answer, "paging.next") == "42"
    assert next_cursor(answer, "paging.missing") is None
    assert next_cursor({"next": None}, "next") is None
    with pytest.raises(PathError):
        page_items(answer, "data.items")
    with pytest.raises(PathError):
        page_items(answer, "paging")  # not a list


def test_the_credential_comes_from_the_stored_value_or_the_environment() -> None:
    stored = ConnectorConfig("c", "payout", "s", "http://x", auth_header="X-API-Key", auth_value="k1", auth_env="KEY")
    assert stored.auth_headers({"KEY": "k2"}) == {"X-API-Key": "k1"}
    from_env = ConnectorConfig("c", "payout", "s", "http://x", auth_header="Authorization", auth_env="KEY")
    assert from_env.auth_headers({"KEY": "Bearer k2"}) == {"Authorization": "Bearer k2"}
    assert from_env.auth_headers({}) == {}
    assert ConnectorConfig("c", "payout", "s", "http://x").auth_headers({"KEY": "x"}) == {}
