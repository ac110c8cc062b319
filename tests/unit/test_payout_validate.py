"""Payout report validation (pure): one case per reason, and what an accepted report becomes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ingest.parse import split_body
from ingest.payout import PayoutRecord, validate_payout_batch
from ioc.localities.catalogue import load_catalogue
from tests.integration.payout_support import NOW, report

PROGRAMMES = frozenset({"nguoi_co_cong", "bao_tro_xa_hoi"})  # luong_huu: retired in these tests
CATALOGUE = load_catalogue()


def check(items: list[Any], in_scope: Any = None) -> list[dict[str, Any]]:
    batch = validate_payout_batch(
        items, now=NOW, catalogue=CATALOGUE, programmes=PROGRAMMES, in_scope=in_scope,
        future_tolerance=timedelta(seconds=300),
    )  # fmt: skip
    return batch.outcome(None).results


def one(item: Any, in_scope: Any = None) -> dict[str, Any]:
    [result] = check([item], in_scope)
    return result


def accepted(item: dict[str, Any]) -> PayoutRecord:
    batch = validate_payout_batch(
        [item], now=NOW, catalogue=CATALOGUE, programmes=PROGRAMMES, in_scope=None,
        future_tolerance=timedelta(seconds=300),
    )  # fmt: skip
    [(_, record, _)] = batch.accepted
    return record


REJECTIONS = [
    # -- shape and types
    ("not an object", ["r-1"], "invalid_field"),
    ("unknown field (no personal data is taken)", report("r-1", ho_ten="Nguyễn Văn A"), "invalid_field"),
    ("no record_id", report("r-1", record_id=None), "missing_field"),
    ("no locality", report("r-1", locality=None), "missing_field"),
    ("no deadline", report("r-1", deadline=None), "missing_field"),
    ("no paid_cash", report("r-1", paid_cash=None), "missing_field"),
    ("no amount paid", report("r-1", amount_paid_vnd=None), "missing_field"),
    ("empty record_id", report("r-1", record_id="  "), "invalid_field"),
    ("negative count", report("r-1", beneficiaries_due=-1), "invalid_field"),
    ("fractional count", report("r-1", paid_cash=250.5), "invalid_field"),
    ("a count as text", report("r-1", paid_cash="250"), "invalid_field"),
    ("true is no count", report("r-1", failed=True), "invalid_field"),
    ("amount beyond any cycle", report("r-1", amount_due_vnd=10**16), "invalid_field"),
    ("month 13", report("r-1", cycle="2024-13"), "invalid_field"),
    ("cycle as MM/YYYY", report("r-1", cycle="10/2024"), "invalid_field"),
    ("deadline as DD/MM/YYYY", report("r-1", deadline="31/10/2024"), "invalid_field"),
    ("deadline 31 November", report("r-1", cycle="2024-11", deadline="2024-11-31"), "invalid_field"),
    ("deadline before the cycle", report("r-1", deadline="2024-09-30"), "invalid_field"),
    ("cycle opening after the deadline", report("r-1", cycle_opens_on="2024-11-05"), "invalid_field"),
    ("failures not an object", report("r-1", failures=["wrong_account"]), "invalid_field"),
    ("a negative failure count", report("r-1", failures={"wrong_account": -1, "deceased": 4}), "invalid_field"),
    # -- time
    ("reported_at not a time", report("r-1", reported_at="hôm qua"), "invalid_time"),
    ("reported_at without offset", report("r-1", reported_at="2024-10-07T17:00:00"), "invalid_time"),
    ("reported_at as a number", report("r-1", reported_at=1728295200), "invalid_time"),
    ("reported an hour ahead", report("r-1", reported_at=(NOW + timedelta(hours=1)).isoformat()), "future_time"),
    # -- programme
    ("unknown programme", report("r-1", programme="tro_cap_khac"), "unknown_programme"),
    ("retired programme", report("r-1", programme="luong_huu"), "unknown_programme"),
    # -- locality, as for dossier events
    ("unknown commune", report("r-1", locality={"commune_code": "99999"}), "unknown_locality"),
    ("no locality field", report("r-1", locality={}), "missing_locality"),
    ("split legacy ward", report("r-1", locality={"legacy_ward_code": "09619"}), "ambiguous_legacy_locality"),
    (
        "legacy unit in another province",
        report("r-1", locality={"province_code": "01", "legacy_province_code": "74"}),
        "locality_mismatch",
    ),
    # -- arithmetic: 500 + 100 + 50 + 250 = 900 paid; 900 + 3 failed <= 1000 due; 2 + 1 = 3 failed
    ("channels do not add up to paid_total", report("r-1", paid_cash=251), "inconsistent_totals"),
    ("paid + failed above due", report("r-1", beneficiaries_due=902), "inconsistent_totals"),
    ("failure reasons do not add up", report("r-1", failures={"wrong_account": 2}), "inconsistent_totals"),
    ("failed without reasons", report("r-1", failures=None), "inconsistent_totals"),
    ("paid more than due", report("r-1", amount_paid_vnd=2_200_000_001), "inconsistent_totals"),
]


@pytest.mark.parametrize(("case", "item", "reason"), REJECTIONS, ids=[c[0] for c in REJECTIONS])
def test_each_refusal_has_its_reason(case: str, item: Any, reason: str) -> None:
    result = one(item)
    assert (result["status"], result["reason"]) == ("rejected", reason), result
    assert result["message"]


def test_a_consistent_report_is_accepted_as_sent() -> None:
    record = accepted(report("r-1"))
    assert record == PayoutRecord(
        record_id="r-1", province_code="01", commune_code="", programme_code="nguoi_co_cong",
        cycle_month=date(2024, 10, 1), cycle_opens_on=date(2024, 10, 1), deadline=date(2024, 10, 31),
        reported_at=datetime(2024, 10, 7, 10, 0, tzinfo=UTC), beneficiaries_due=1000, paid_total=900,
        paid_bank=500, paid_card=100, paid_ewallet=50, paid_cash=250, failed=3,
        failure_reasons={"wrong_account": 2, "deceased": 1}, amount_due_vnd=2_200_000_000,
        amount_paid_vnd=1_980_000_000,
    )  # fmt: skip


def test_defaults_the_boundaries_allow() -> None:
    # No cycle_opens_on: the first of the month. No failed / failures: none. Paid + failed = due.
    record = accepted(report("r-1", cycle_opens_on=None, failed=None, failures=None, beneficiaries_due=900))
    assert (record.cycle_opens_on, record.failed, record.failure_reasons) == (date(2024, 10, 1), 0, {})
    # Zero counts for a reason are dropped; a report exactly at the tolerance is on time.
    tolerance = (NOW + timedelta(seconds=300)).isoformat()
    record = accepted(report("r-2", reported_at=tolerance, failures={"wrong_account": 2, "deceased": 1, "moved": 0}))
    assert record.failure_reasons == {"wrong_account": 2, "deceased": 1}


@pytest.mark.parametrize(
    ("locality", "province", "commune", "converted"),
    [
        ({"commune_code": "00004"}, "01", "00004", None),  # Phường Ba Đình
        ({"province_name": "Thành phố Hà Nội"}, "01", "", None),
        ({"legacy_province_code": "74"}, "79", "", "legacy province 74 (Tỉnh Bình Dương)"),
    ],
)
def test_localities_resolve_as_for_dossier_events(
    locality: dict[str, str], province: str, commune: str, converted: str | None
) -> None:
    [result] = check([report("r-1", locality=locality)])
    assert result["status"] == "accepted" and result.get("converted_from") == converted
    record = accepted(report("r-1", locality=locality))
    assert (record.province_code, record.commune_code) == (province, commune)


def test_out_of_scope_and_repeated_items_are_refused_one_by_one() -> None:
    def hanoi_only(province: str, commune: str | None) -> bool:
        return province == "01"

    results = check(
        [
            report("r-1"),
            report("r-2", locality={"province_code": "79"}),
            report("r-1", paid_cash=250),
            report("r-3", locality={"commune_code": "00004"}),
        ],
        in_scope=hanoi_only,
    )
    assert [(r["status"], r.get("reason")) for r in results] == [
        ("accepted", None),
        ("rejected", "locality_out_of_scope"),
        ("duplicate", "duplicate_in_batch"),
        ("accepted", None),
    ]
    assert [r["index"] for r in results] == [0, 1, 2, 3]


def test_an_ndjson_line_that_is_no_json_is_malformed() -> None:
    items = split_body(b'{"record_id": "x"\n', "application/x-ndjson")
    assert one(items[0])["reason"] == "malformed_json"
