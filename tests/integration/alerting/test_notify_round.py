"""The planning round against the real database: its duration in /metrics, the process-wide
silence cache following silences that are edited or ended between rounds, and inhibition by a
source stored in the database."""

from __future__ import annotations

from datetime import timedelta

import orjson

from alerts.notify.dispatcher import AlertRowCache, _load_alerts, dispatch_once
from ioc.metrics import Metrics
from tests.integration.alerting.test_notify_dispatch import CAL, FIRED, connect, seed_alert, seed_webhook_route, sql

PROVINCE_01 = orjson.dumps([{"label": "province_code", "op": "=", "value": "01"}]).decode()
COMMUNE_07 = orjson.dumps([{"label": "commune_code", "op": "=", "value": "00007"}]).decode()


async def test_round_duration_and_size_are_in_metrics(db_url: str) -> None:
    seed_webhook_route(db_url)
    seed_alert(db_url, "fp-metrics")
    metrics = Metrics()
    async with connect(db_url) as conn:
        await dispatch_once(conn, FIRED, CAL, metrics=metrics)
        await dispatch_once(conn, FIRED + timedelta(seconds=1), CAL, metrics=metrics)
    for stage in ("load", "plan", "write", "total"):
        count = metrics.registry.get_sample_value("ioc_alerts_notify_round_duration_seconds_count", {"stage": stage})
        assert count == 2, stage
    assert metrics.registry.get_sample_value("ioc_alerts_notify_round_alerts") == 1


async def test_an_edited_or_ended_silence_is_seen_by_the_next_round(db_url: str) -> None:
    """The label matches are cached across rounds; a silence whose matchers change, or that is
    ended, must not keep muting from the cache."""
    seed_webhook_route(db_url)
    seed_alert(db_url, "fp-edit", commune="00004")
    [(sid,)] = sql(db_url, "INSERT INTO silence (matchers, starts_at, ends_at, comment, created_by) VALUES"
                           " (%s, %s, %s, 'bảo trì', 'user:an') RETURNING id",
                   [PROVINCE_01, FIRED - timedelta(hours=1), FIRED + timedelta(hours=5)])  # fmt: skip
    async with connect(db_url) as conn:
        for seconds in (0, 31, 62):
            assert (await dispatch_once(conn, FIRED + timedelta(seconds=seconds), CAL)).planned == 0
        # Narrowed to another commune: the alert is no longer silenced; after its group_wait it
        # is announced.
        sql(db_url, "UPDATE silence SET matchers = %s WHERE id = %s", [COMMUNE_07, sid])
        await dispatch_once(conn, FIRED + timedelta(seconds=63), CAL)
        assert (await dispatch_once(conn, FIRED + timedelta(seconds=95), CAL)).planned == 1
        # Silenced again, then ended early: muted while it holds, announced again after.
        sql(db_url, "UPDATE silence SET matchers = %s WHERE id = %s", [PROVINCE_01, sid])
        assert (await dispatch_once(conn, FIRED + timedelta(minutes=30), CAL)).planned == 0
        sql(db_url, "UPDATE silence SET expired_at = %s WHERE id = %s", [FIRED + timedelta(minutes=31), sid])
        assert (await dispatch_once(conn, FIRED + timedelta(minutes=40), CAL)).planned == 1


async def test_a_stored_silent_source_inhibits_and_its_end_releases(db_url: str) -> None:
    seed_webhook_route(db_url)
    sql(db_url, "INSERT INTO inhibit_rule (id, source_matchers, target_matchers, equal, updated_by) VALUES"
                " ('silent', '[{\"label\": \"kind\", \"op\": \"=\", \"value\": \"silent_source\"}]',"
                " '[{\"label\": \"kind\", \"op\": \"!=\", \"value\": \"silent_source\"}]', '{stream,province_code}',"
                " 'test')")  # fmt: skip
    seed_alert(db_url, "fp-target")
    source = seed_alert(db_url, "fp-source", commune="00007")
    sql(db_url, "UPDATE alert SET labels = labels || '{\"kind\": \"silent_source\", \"rule\": \"silent\"}',"
                " rule_id = 'silent' WHERE id = %s", [source])  # fmt: skip
    async with connect(db_url) as conn:
        await dispatch_once(conn, FIRED, CAL)
        report = await dispatch_once(conn, FIRED + timedelta(seconds=31), CAL)
        # Only the source's own group is announced: the target is inhibited by it.
        assert report.planned == 1
        sql(db_url, "UPDATE alert SET state = 'resolved', resolved_at = %s WHERE id = %s",
            [FIRED + timedelta(minutes=1), source])  # fmt: skip
        await dispatch_once(conn, FIRED + timedelta(minutes=6), CAL)  # released: its group waits group_wait
        assert (await dispatch_once(conn, FIRED + timedelta(minutes=6, seconds=31), CAL)).planned >= 1
    announced = sql(db_url, "SELECT payload FROM delivery")
    fps = sorted({a["fingerprint"] for (p,) in announced for a in p.get("alerts", []) if a.get("status") == "firing"})
    assert fps == ["fp-source", "fp-target"]


async def test_alert_rows_are_read_again_only_when_changed(db_url: str) -> None:
    """Any committed UPDATE — here an acknowledgement, which does not bump ``version`` — changes
    the row version, so the next round reads that row again; the unchanged ones are reused."""
    first, second = seed_alert(db_url, "fp-a"), seed_alert(db_url, "fp-b", commune="00007")
    params = {"since": FIRED - timedelta(days=2), "sent": [], "escalating": []}
    cache = AlertRowCache()
    async with connect(db_url) as conn:
        loaded = await _load_alerts(conn, params, cache)
        assert [a.id for a in loaded] == [first, second] and cache.fetched == 2
        again = await _load_alerts(conn, params, cache)
        assert again == loaded and again[0] is loaded[0] and cache.fetched == 2  # nothing read in full
        sql(db_url, "UPDATE alert SET acknowledged_at = %s, acknowledged_by = 'user:an' WHERE id = %s",
            [FIRED + timedelta(minutes=1), first])  # fmt: skip
        acked = await _load_alerts(conn, params, cache)
        assert cache.fetched == 3 and acked[0].acknowledged_by == "user:an" and acked[1] is loaded[1]
        sql(db_url, "UPDATE alert SET state = 'resolved', resolved_at = %s WHERE id = %s", [FIRED, second])
        assert [a.id for a in await _load_alerts(conn, params, cache)] == [first]  # no longer of interest
        cache.database = ("another", "cluster", 1)  # rows of another database are never reused
        await _load_alerts(conn, params, cache)
        assert cache.fetched == 4
