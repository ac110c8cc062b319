"""Error classification and the retry schedule: pure, with every number pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.delivery.backoff import MAX_RETRY_AFTER_S, Dead, Retry, RetryPolicy, decide
from alerts.delivery.errors import (
    PermanentError,
    TemporaryError,
    classify_http_status,
    classify_smtp_code,
    parse_retry_after,
)

NOW = datetime(2026, 10, 12, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, None), (202, None), (204, None), (301, PermanentError), (400, PermanentError), (401, PermanentError),
     (403, PermanentError), (404, PermanentError), (408, TemporaryError), (410, PermanentError),
     (413, PermanentError), (422, PermanentError), (429, TemporaryError), (500, TemporaryError),
     (502, TemporaryError), (503, TemporaryError), (504, TemporaryError)],
)  # fmt: skip
def test_http_status_classification(status: int, kind: type | None) -> None:
    error = classify_http_status(status, "body")
    assert (error is None) if kind is None else isinstance(error, kind)


def test_http_error_carries_retry_after_and_body() -> None:
    error = classify_http_status(503, "bận", retry_after=7.0)
    assert isinstance(error, TemporaryError) and error.retry_after == 7.0 and str(error) == "HTTP 503: bận"


@pytest.mark.parametrize(
    ("code", "kind"),
    [(421, TemporaryError), (450, TemporaryError), (452, TemporaryError), (550, PermanentError),
     (553, PermanentError), (554, PermanentError)],
)  # fmt: skip
def test_smtp_classification(code: int, kind: type) -> None:
    assert isinstance(classify_smtp_code(code, "x"), kind)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("", None), ("120", 120.0), ("Mon, 12 Oct 2026 01:31:00 GMT", 60.0),
     ("Mon, 12 Oct 2026 01:00:00 GMT", 0.0), ("soon", None)],
)  # fmt: skip
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


POLICY = RetryPolicy(max_attempts=5, base_backoff_s=10.0, max_backoff_s=60.0)


@pytest.mark.parametrize(
    ("attempts", "jitter", "seconds"),
    [(1, 0.0, 5.0), (1, 0.999999, 9.99999), (2, 0.0, 10.0), (3, 0.5, 30.0), (4, 1.0, 60.0), (4, 0.0, 30.0),
     (10, 0.0, 30.0), (10, 1.0, 60.0)],
)  # fmt: skip
def test_exponential_backoff_with_jitter_and_cap(attempts: int, jitter: float, seconds: float) -> None:
    assert POLICY.delay(attempts, jitter) == pytest.approx(seconds)


def test_temporary_error_retries_later() -> None:
    outcome = decide(TemporaryError("HTTP 503"), attempts=2, now=NOW, policy=POLICY, jitter=0.0)
    assert outcome == Retry(NOW + timedelta(seconds=10), "HTTP 503")


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    assert decide(TemporaryError("429", 45.0), 1, NOW, POLICY, 0.0) == Retry(NOW + timedelta(seconds=45), "429")
    assert decide(TemporaryError("429", 1.0), 3, NOW, POLICY, 0.0) == Retry(NOW + timedelta(seconds=20), "429")
    huge = decide(TemporaryError("429", 10**9), 1, NOW, POLICY, 0.0)
    assert isinstance(huge, Retry) and huge.available_at == NOW + timedelta(seconds=MAX_RETRY_AFTER_S)


def test_permanent_error_is_dead_at_once() -> None:
    assert decide(PermanentError("HTTP 404"), 1, NOW, POLICY) == Dead("HTTP 404")


def test_temporary_errors_die_when_attempts_run_out() -> None:
    assert decide(TemporaryError("HTTP 503"), 5, NOW, POLICY) == Dead("HTTP 503 (gave up after 5 attempts)")
    assert isinstance(decide(TemporaryError("HTTP 503"), 4, NOW, POLICY), Retry)
