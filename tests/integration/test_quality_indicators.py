"""The four service-quality indicators end to end: ingest → live value → history bucket → 766 score,
on a small fixture whose every number was worked out by hand, with re-sent, duplicated and
out-of-order events that must not count twice; and the same history in TimescaleDB mode.

Seven dossiers of Hà Nội (01), received on Friday 20/11/2026, six in Phường Ba Đình (00004), one
in Phường Ngọc Hà (00008):

    dossier  channel  online_level  digitised | fee payment(s)                     | rating(s)
    Q1       online   full          true      | online 20/11 08:55 (before receipt) | very_satisfied 22/11
    Q2       online   full          false     | online 21/11                        | satisfied 22/11
    Q3       online   partial       true      | offline 21/11                       | dissatisfied 22/11, then
                                                                                      satisfied 23/11 (revised;
                                                                                      the revision arrives first)
    Q4       online   —             —         | —                                   | —
    Q5       direct   (none)        true      | offline 22/11, then online 23/11    | dissatisfied 23/11
                                                (the first payment stands)
    Q6       direct   (none)        —         | online 22/11, sent twice (same id)  | —
    Q7       postal   (none)        false     | —                                   | —   (commune 00008)

Province 01, November (live: the last 30 days; history: the month bucket):
    full_online_share    = full / (direct + postal + online that stated a level)
                         = 2 (Q1, Q2) / (3 (Q5, Q6, Q7) + 3 (Q1, Q2, Q3)) = 2 / 6 = 0.3333…
                           (Q4 stated nothing: left out, not guessed)
    digitisation_rate    = digitised / stated = 3 (Q1, Q3, Q5) / 5 (Q1, Q2, Q3, Q5, Q7) = 0.6
    online_payment_share = first payments online / dossiers paid = 3 (Q1, Q2, Q6) / 5 (Q1, Q2, Q3, Q5, Q6) = 0.6
    satisfaction_rate    = latest ratings satisfied / dossiers rated = 3 (Q1, Q2, Q3) / 4 (Q1, Q2, Q3, Q5) = 0.75
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg import AsyncConnection

from ingest.writer import WriteOutcome
from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres
from ioc.indicators.buckets import Bucket
from ioc.indicators.history import history
from ioc.indicators.history_job import run_history_job
from ioc.indicators.scorecard_query import monthly_scorecards
from ioc.indicators.values import current_values
from ioc.sources import register_source
from tests.conftest import fresh_database
from tests.integration.ingest_support import event, receipt
from tests.integration.test_timescale import timescale_cluster  # noqa: F401  (a fixture; skips without the extension)
from tests.integration.writer_support import SOURCE_ID, ingest

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=VN)
NOV = datetime(2026, 11, 1, tzinfo=VN)
DEC = datetime(2026, 12, 1, tzinfo=VN)
CODES = ("full_online_share", "digitisation_rate", "online_payment_share", "satisfaction_rate")
NGOC_HA = {"commune_code": "00008"}


def day(d: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 11, d, hour, minute, tzinfo=VN)


def rec(n: int, channel: str, locality: dict[str, str] | None = None, **quality: Any) -> dict[str, Any]:
    item = receipt(f"Q{n}-r", f"Q{n}", day(20, 9, n), channel=channel, locality=locality)
    return {**item, **quality}


def paid(event_id: str, n: int, t: datetime, how: str, locality: dict[str, str] | None = None) -> dict[str, Any]:
    return {**event(event_id, f"Q{n}", "fee_paid", t, locality=locality), "payment_channel": how}


def rated(event_id: str, n: int, t: datetime, rating: str) -> dict[str, Any]:
    return {**event(event_id, f"Q{n}", "rated", t), "rating": rating}


# Batch 1: every receipt, Q3's revised rating (ahead of the one it revises) and Q6's payment.
BATCH_1 = [
    rec(1, "online", online_level="full", digitised=True),
    rec(2, "online", online_level="full", digitised=False),
    rec(3, "online", online_level="partial", digitised=True),
    rec(4, "online"),
    rec(5, "direct", digitised=True),
    rec(6, "direct"),
    rec(7, "postal", NGOC_HA, digitised=False),
    rated("Q3-rate-2", 3, day(23, 10), "satisfied"),
    paid("Q6-pay", 6, day(22, 10), "online"),
]
# Batch 2, after a history run: payments (Q1's stamped before its receipt), ratings (Q3's first,
# older than its stored revision: a refold), and Q6's payment again under the same event id.
BATCH_2 = [
    paid("Q1-pay", 1, day(20, 8, 55), "online"),
    paid("Q2-pay", 2, day(21, 10), "online"),
    paid("Q3-pay", 3, day(21, 11), "offline"),
    paid("Q5-pay-1", 5, day(22, 10), "offline"),
    rated("Q1-rate", 1, day(22, 14), "very_satisfied"),
    rated("Q2-rate", 2, day(22, 15), "satisfied"),
    rated("Q3-rate-1", 3, day(22, 16), "dissatisfied"),
    rated("Q5-rate", 5, day(23, 11), "dissatisfied"),
    paid("Q6-pay", 6, day(22, 10), "online"),  # a resend: duplicate
]
# Batch 3: a second payment for Q5 under a new id (a source's correction): the first one stands.
BATCH_3 = [paid("Q5-pay-2", 5, day(23, 9), "online")]


async def _write(url: str, items: list[dict[str, Any]]) -> WriteOutcome:
    return await ingest(url, items, NOW)


async def _job(url: str) -> None:
    async with await AsyncConnection.connect(url) as conn:
        await run_history_job(conn, NOW)


def _prepare(url: str) -> str:
    register_source(url, SOURCE_ID, "Nguồn thử nghiệm")
    first = asyncio.run(_write(url, BATCH_1))
    assert first.accepted == len(BATCH_1), first.results
    asyncio.run(_job(url))
    second = asyncio.run(_write(url, BATCH_2))
    assert (second.accepted, second.duplicate) == (len(BATCH_2) - 1, 1), second.results
    assert second.results[-1]["reason"] == "already_ingested"
    third = asyncio.run(_write(url, BATCH_3))
    assert third.accepted == 1
    # The whole of batch 2 again: nothing new.
    again = asyncio.run(_write(url, BATCH_2))
    assert (again.accepted, again.duplicate) == (0, len(BATCH_2))
    asyncio.run(_job(url))
    return url


@pytest.fixture(scope="module")
def db(pg_server: EmbeddedPostgres) -> Iterator[str]:
    yield _prepare(fresh_database(pg_server))


EXPECTED_PROVINCE = {
    "full_online_share": 2 / 6,
    "digitisation_rate": 0.6,
    "online_payment_share": 0.6,
    "satisfaction_rate": 0.75,
}


async def test_live_values_match_the_hand_count(db: str) -> None:
    async with await AsyncConnection.connect(db) as conn:
        province = await current_values(conn, Scope.everything(), "province", NOW, list(CODES))
        communes = await current_values(conn, Scope.everything(), "commune", NOW, list(CODES), province_code="01")
    assert province["01"] == pytest.approx(EXPECTED_PROVINCE)
    assert province["79"] == dict.fromkeys(CODES)  # nothing there: no data, not 0
    # Ngọc Hà (00008): Q7 only, postal, stated "not digitised": 0 / 1 = 0 digitised; it stated no
    # online level (none exists for a postal dossier), so no full-online value; no payment, no rating.
    assert communes["00008"] == {"full_online_share": None, "digitisation_rate": 0.0, "online_payment_share": None,
                                 "satisfaction_rate": None}  # fmt: skip


async def test_the_month_bucket_equals_the_live_value(db: str) -> None:
    async with await AsyncConnection.connect(db) as conn:
        for code, expected in EXPECTED_PROVINCE.items():
            [(bucket, value)] = await history(conn, Scope.everything(), code, "01", NOV, DEC, "month", now=NOW)
            assert bucket == NOV and value == pytest.approx(expected), code


async def test_day_buckets_count_payments_and_ratings_on_their_own_days(db: str) -> None:
    async with await AsyncConnection.connect(db) as conn:
        payments = dict(await history(conn, Scope.everything(), "online_payment_share", "01", day(20, 0),
                                      day(24, 0), "day", now=NOW))  # fmt: skip
        ratings = dict(await history(conn, Scope.everything(), "satisfaction_rate", "01", day(20, 0), day(24, 0),
                                     "day", now=NOW))  # fmt: skip
    # Payments: 20/11 Q1 online → 1/1; 21/11 Q2 online, Q3 offline → 1/2; 22/11 Q5 offline, Q6 online
    # (once, though sent twice) → 1/2; 23/11 only Q5's second payment, which does not count → none.
    assert [payments[day(d, 0)] for d in (20, 21, 22, 23)] == [1.0, 0.5, 0.5, None]
    # Ratings: 22/11 Q1 very satisfied, Q2 satisfied (Q3's rating of that day was revised) → 2/2;
    # 23/11 Q3 satisfied, Q5 dissatisfied → 1/2.
    assert [ratings[day(d, 0)] for d in (20, 21, 22, 23)] == [None, None, 1.0, 0.5]


async def test_hour_buckets_agree_with_the_day(db: str) -> None:
    async with await AsyncConnection.connect(db) as conn:
        hours = await history(conn, Scope.everything(), "satisfaction_rate", "01", day(22, 0), day(24, 0), "hour",
                              now=NOW)  # fmt: skip
    rated_hours = {b: v for b, v in hours if v is not None}
    # 22/11 14:00 Q1, 15:00 Q2 (both satisfied); 23/11 10:00 Q3 satisfied, 11:00 Q5 dissatisfied.
    assert rated_hours == {day(22, 14): 1.0, day(22, 15): 1.0, day(23, 10): 1.0, day(23, 11): 0.0}


async def test_the_766_scorecard_scores_the_new_groups(db: str) -> None:
    async with await AsyncConnection.connect(db) as conn:
        _, _, cards = await monthly_scorecards(conn, Scope.everything(), "province", NOV.date(), NOW,
                                               province_code="01")  # fmt: skip
    card = cards[0].card
    groups = {g.group.code: g for g in card.groups}
    # online: service 4/7 online ≥ its 50 % target → 12; payment 0.6 × 10 / 1.0 = 6 → 18
    assert groups["online"].points == pytest.approx(18.0)
    assert groups["digitisation"].points == pytest.approx(13.2)  # 0.6 × 22
    assert groups["satisfaction"].points == pytest.approx(13.5)  # 0.75 × 18
    # No resolution and no publicity measure: those two are not scored (not zero).
    assert set(card.missing_groups) == {"publicity", "progress"}
    # 44.7 of the covered 12 + 10 + 22 + 18 = 62 → 72.1 % → khá (fair)
    assert card.covered_max == 62 and card.percent == pytest.approx(100 * 44.7 / 62)
    assert card.band is not None and card.band.code == "fair"


def test_the_rollup_counts_each_dossier_once(db: str) -> None:
    import psycopg

    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT sum(received), sum(received_full_online), sum(received_level_stated), sum(digitised), "
            "sum(digitised_known), sum(fee_payments), sum(fee_payments_online), sum(ratings), "
            "sum(ratings_satisfied) FROM dossier_daily WHERE province_code = '01'"
        ).fetchone()
        hourly = conn.execute(
            "SELECT sum(fee_payments), sum(fee_payments_online), sum(ratings), sum(ratings_satisfied) "
            "FROM dossier_hourly WHERE province_code = '01'"
        ).fetchone()
    assert row == (7, 2, 3, 3, 5, 5, 3, 4, 3)
    assert hourly == (5, 3, 4, 3)


# -- TimescaleDB mode ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def both(db: str, timescale_cluster: EmbeddedPostgres) -> tuple[str, str]:  # noqa: F811
    return db, _prepare(fresh_database(timescale_cluster))


@pytest.mark.parametrize("bucket", ["hour", "day", "week", "month"])
@pytest.mark.parametrize("code", CODES)
async def test_same_quality_history_in_both_modes(both: tuple[str, str], bucket: Bucket, code: str) -> None:
    start = day(20, 0) if bucket == "hour" else NOV
    end = day(25, 0) if bucket == "hour" else DEC
    answers = []
    for url in both:
        async with await AsyncConnection.connect(url) as conn:
            answers.append(await history(conn, Scope.everything(), code, "01", start, end, bucket, now=NOW))
    assert answers[0] == answers[1]
    assert any(v is not None for _, v in answers[0])
