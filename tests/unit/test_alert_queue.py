"""The queue key and its cursor (ioc/live/alert_queue.py), without a database."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from ioc.live.alert_index import queue_order
from ioc.live.alert_queue import CursorError, QueueKey, QueuePage, alerts_more, queue_key

T0 = datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=UTC)


def alert(alert_id: int, state: str, severity: str, minutes_ago: int, *, resolved: bool = False) -> dict[str, object]:
    at = (T0 - timedelta(minutes=minutes_ago)).isoformat()
    return {"id": alert_id, "state": state, "severity": severity, "active_since": at,
            "fired_at": at if state != "pending" else None, "resolved_at": at if resolved else None}  # fmt: skip


@pytest.mark.parametrize(
    "key",
    [QueueKey(0, 0, T0, 1), QueueKey(2, 2, T0 - timedelta(days=400), 9_007_199_254_740_000),
     QueueKey(1, 1, datetime(2026, 3, 2, 15, 30, tzinfo=UTC) + timedelta(microseconds=1), 42)],
)  # fmt: skip
def test_a_cursor_round_trips_exactly_and_is_url_safe(key: QueueKey) -> None:
    cursor = key.cursor()
    assert QueueKey.from_cursor(cursor) == key
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "not base64!",
        _b64({"a": 1}),
        _b64([0, 0, T0.isoformat()]),  # too short
        _b64([0, 0, "yesterday", 1]),
        _b64([0, 0, "2026-03-02T08:30:00", 1]),  # no time zone
        _b64([0, True, T0.isoformat(), 1]),  # a bool is no rank
        _b64([0, 0, T0.isoformat(), 1.5]),
        _b64([3, 0, T0.isoformat(), 1]),  # no such state rank
        _b64([0, -1, T0.isoformat(), 1]),
        _b64([0, 0, "0001-01-01T00:00:00+05:00", 1]),  # before year 1 in UTC
    ],
)
def test_a_cursor_this_server_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(CursorError):
        QueueKey.from_cursor(cursor)


def test_the_key_orders_alerts_as_the_dashboard_does() -> None:
    rng = random.Random(7)
    alerts = []
    for i in range(1, 300):
        state = rng.choice(["firing", "pending", "resolved"])
        alerts.append(alert(i, state, rng.choice(["critical", "warning", "info"]), rng.randrange(0, 30),
                            resolved=state == "resolved"))  # fmt: skip
    by_key = sorted(alerts, key=lambda a: queue_key(a).sort_tuple())
    assert [a["id"] for a in by_key] == [a["id"] for a in sorted(alerts, key=queue_order)]


def test_the_key_takes_resolved_then_fired_then_active_since() -> None:
    pending = alert(1, "pending", "info", 5)
    firing = {**alert(2, "firing", "info", 5), "fired_at": (T0 - timedelta(minutes=1)).isoformat()}
    assert queue_key(pending).at == T0 - timedelta(minutes=5)
    assert queue_key(firing).at == T0 - timedelta(minutes=1)
    assert queue_key(alert(3, "resolved", "critical", 2, resolved=True)) == QueueKey(2, 0, T0 - timedelta(minutes=2), 3)


def test_alerts_more_points_at_the_rest_only_when_there_is_some() -> None:
    since = T0 - timedelta(days=1)
    assert alerts_more(QueuePage([], None, None), since) is None
    more = alerts_more(QueuePage([], "abc", None), since)
    assert more == {"resolved_since": since.isoformat(), "cursor": "abc"}


def test_a_cursor_time_with_any_offset_comes_back_in_utc() -> None:
    """PostgreSQL refuses offsets beyond ±15:59 that Python accepts: the key is kept in UTC."""
    odd = T0.astimezone(timezone(timedelta(hours=23, minutes=59)))
    key = QueueKey.from_cursor(_b64([0, 0, odd.isoformat(), 1]))
    assert key.at == T0 and key.at.utcoffset() == timedelta(0)
