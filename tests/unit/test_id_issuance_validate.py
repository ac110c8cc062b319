"""ID-issuance report validation (pure): one case per reason, and what an accepted report becomes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson
import pytest

from ingest.batch import BatchContext, InScope
from ingest.id_issuance import VN, IdReport, validate_batch
from ingest.id_issuance_items import COUNT_FIELDS, MAX_COUNT
from ingest.parse import split_body
from ioc.localities.catalogue import load_catalogue
from tests.integration.id_issuance_support import HANOI_WARD, NOW, report

CATALOGUE = load_catalogue()


def context(in_scope: InScope | None = None, now: datetime = NOW) -> BatchContext:
    return BatchContext(source_id="s", now=now, catalogue=CATALOGUE, in_scope=in_scope)


def results(items: list[Any], in_scope: InScope | None = None) -> list[dict[str, Any]]:
    batch = validate_batch(items, context(in_scope))
    out: list[dict[str, Any]] = [{}] * len(items)
    for refused in batch.refused:
        out[refused["index"]] = refused
    for accepted in batch.accepted:
        out[accepted.index] = {"index": accepted.index, "status": "accepted"}
    return out


def one(item: Any, in_scope: InScope | None = None) -> dict[str, Any]:
    [result] = results([item], in_scope)
    return result


def accepted(item: dict[str, Any], now: datetime = NOW) -> IdReport:
    batch = validate_batch([item], context(now=now))
    assert not batch.refused, batch.refused
    [out] = batch.accepted
    return out


# NOW is 10:00 on 17/3/2026 in Vietnam; the tolerance is 300 s.
REJECTIONS = [
    # -- shape and types
    ("not an object", ["r-1"], "invalid_field"),
    ("unknown field (no personal data is taken)", report("r-1", so_cccd="001099000001"), "invalid_field"),
    ("no record_id", report("r-1", record_id=None), "missing_field"),
    ("no day", report("r-1", day=None), "missing_field"),
    ("no locality", report("r-1", locality=None), "missing_field"),
    ("no cards issued that day", report("r-1", cccd_issued=None), "missing_field"),
    ("no eligible population", report("r-1", eligible_population=None), "missing_field"),
    ("no level-2 total", report("r-1", l2_activated_total=None), "missing_field"),
    ("empty record_id", report("r-1", record_id="   "), "invalid_field"),
    ("record_id as a number", report(7), "invalid_field"),  # type: ignore[arg-type]
    ("negative count", report("r-1", cccd_received=-1), "invalid_field"),
    ("negative stock", report("r-1", l2_activated_total=-5), "invalid_field"),
    ("fractional count", report("r-1", l2_activated=12.5), "invalid_field"),
    ("a count as text", report("r-1", cccd_issued="95"), "invalid_field"),
    ("true is no count", report("r-1", l2_approved=True), "invalid_field"),
    ("beyond any population", report("r-1", eligible_population=MAX_COUNT + 1), "invalid_field"),
    ("optional stock, negative", report("r-1", l2_eligible_population=-1), "invalid_field"),
    ("locality not an object", report("r-1", locality="25747"), "invalid_field"),
    ("unknown locality field", report("r-1", locality={"ward": "Thủ Dầu Một"}), "invalid_field"),
    # -- time
    ("day as DD/MM/YYYY", report("r-1", day="16/03/2026"), "invalid_time"),
    ("day 30 February", report("r-1", day="2026-02-30"), "invalid_time"),
    ("day with a time", report("r-1", day="2026-03-16T00:00:00"), "invalid_time"),
    ("day before CCCDs existed", report("r-1", day="2015-12-31", reported_at="2015-12-31T18:00:00+07:00"),
     "invalid_time"),
    ("reported_at without offset", report("r-1", reported_at="2026-03-16T18:00:00"), "invalid_time"),
    ("reported_at not a time", report("r-1", reported_at="hôm qua"), "invalid_time"),
    ("reported before the day began", report("r-1", reported_at="2026-03-15T23:59:00+07:00"), "invalid_time"),
    ("day tomorrow in Vietnam", report("r-1", day="2026-03-18", reported_at=None), "future_time"),
    ("reported_at beyond the tolerance", report("r-1", day="2026-03-17", reported_at="2026-03-17T10:06:00+07:00"),
     "future_time"),
    # -- locality
    ("unknown commune", report("r-1", locality={"commune_code": "99999"}), "unknown_locality"),
    ("no locality field", report("r-1", locality={}), "missing_locality"),
    ("commune of another province", report("r-1", locality={"province_code": "01", "commune_code": "25747"}),
     "locality_mismatch"),
    # -- consistency
    ("more cards than eligible people", report("r-1", cccd_issued_total=54_001), "inconsistent_totals"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "item", "reason"), REJECTIONS, ids=[c for c, _, _ in REJECTIONS])
def test_rejection(case: str, item: Any, reason: str) -> None:
    result = one(item)
    assert (result["status"], result["reason"]) == ("rejected", reason), result
    assert result["message"]


def test_an_accepted_report_is_normalised() -> None:
    r = accepted(report("r-1"))
    assert (r.province_code, r.commune_code, r.day) == ("79", "25747", date(2026, 3, 16))
    assert r.reported_at == datetime(2026, 3, 16, 18, 0, tzinfo=VN)
    assert dict(zip(COUNT_FIELDS, r.counts, strict=True)) == {
        "cccd_received": 120, "cccd_issued": 95, "l2_received": 310, "l2_approved": 280, "l2_activated": 150,
        "eligible_population": 54_000, "cccd_issued_total": 52_575, "l2_activated_total": 9_300,
        "l2_eligible_population": 27_500,
    }  # fmt: skip
    assert r.converted_from is None


ACCEPTED = [
    ("a province-wide report", report("r-1", locality={"province_code": "01"})),
    ("a province by name", report("r-1", locality={"province_name": "Hà Nội"})),
    ("no level-2 eligible population (optional)", report("r-1", l2_eligible_population=None)),
    ("a whole float from a spreadsheet", report("r-1", cccd_issued=95.0)),
    ("zero everywhere", report("r-1", **dict.fromkeys(COUNT_FIELDS, 0))),
    ("every card issued", report("r-1", cccd_issued_total=54_000)),
    # Different applicants are at different steps on one day: the flows need not nest.
    ("more activated than approved that day", report("r-1", l2_approved=10, l2_activated=150, l2_received=5)),
    # More level-2 accounts than the level-2 eligible figure: Bình Dương's 1.2 M target exceeded
    # its 1,005,735 eligible, so this is no inconsistency.
    ("level-2 total above its eligible figure", report("r-1", l2_activated_total=30_000)),
    ("reported_at left out: the time of receipt", report("r-1", day="2026-03-17", reported_at=None)),
    ("today, reported now", report("r-1", day="2026-03-17", reported_at="2026-03-17T10:04:00+07:00")),
    ("today, within the tolerance", report("r-1", day="2026-03-17", reported_at="2026-03-17T03:04:59Z")),
    ("a correction long after the day", report("r-1", reported_at="2026-03-17T09:00:00+07:00")),
]


@pytest.mark.parametrize(("case", "item"), ACCEPTED, ids=[c for c, _ in ACCEPTED])
def test_accepted(case: str, item: dict[str, Any]) -> None:
    assert one(item)["status"] == "accepted"


def test_province_report_has_empty_commune_and_receipt_time_stands_in() -> None:
    r = accepted(report("r-1", locality={"province_code": "01"}, day="2026-03-17", reported_at=None))
    assert (r.province_code, r.commune_code, r.reported_at) == ("01", "", NOW)


def test_legacy_ward_is_converted_and_says_so() -> None:
    # Phường Phú Cường, Thủ Dầu Một, Bình Dương (legacy 74 / 718 / 25747 → Phường Thủ Dầu Một).
    legacy = CATALOGUE.legacy.wards["25747"]
    assert legacy.legacy_province_code == "74" and legacy.successors == ("25747",)
    r = accepted(report("r-1", locality={"legacy_ward_code": "25747"}))
    assert (r.province_code, r.commune_code) == ("79", "25747")
    assert r.converted_from and "Bình Dương" in r.converted_from


def test_split_legacy_ward_is_ambiguous() -> None:
    split = next(w for w in CATALOGUE.legacy.wards.values() if len(w.successors) > 1)
    assert one(report("r-1", locality={"legacy_ward_code": split.code}))["reason"] == "ambiguous_legacy_locality"


def test_duplicates_in_batch_and_a_bad_twin() -> None:
    out = results([report("r-1"), report("r-1"), report("r-2", cccd_issued=-1), report("r-2")])
    assert [(r["status"], r.get("reason")) for r in out] == [
        ("accepted", None), ("duplicate", "duplicate_in_batch"), ("rejected", "invalid_field"), ("accepted", None),
    ]  # fmt: skip


def test_out_of_scope_item_is_rejected_alone() -> None:
    hanoi_only = lambda province, commune: province == "01"  # noqa: E731
    out = results([report("r-1"), report("r-2", locality=HANOI_WARD)], hanoi_only)
    assert (out[0]["status"], out[0]["reason"]) == ("rejected", "locality_out_of_scope")
    assert out[1]["status"] == "accepted"
    assert "25747" in out[0]["message"]


def test_unparsable_ndjson_line_is_malformed_json() -> None:
    items = split_body(b'{"record_id": "r-1"\n' + orjson.dumps(report("r-2")), "application/x-ndjson")
    out = results(items)
    assert (out[0]["status"], out[0]["reason"]) == ("rejected", "malformed_json")
    assert out[1]["status"] == "accepted"


def test_rejection_echoes_record_id_but_no_values() -> None:
    result = one(report("r-9", cccd_issued_total=99_999))
    assert result["record_id"] == "r-9"
    assert (result["status"], result["reason"]) == ("rejected", "inconsistent_totals")


def test_day_boundary_follows_vietnam_time() -> None:
    # 17:30 UTC on 16/3 is already 00:30 on 17/3 in Vietnam: a report for the 17th is not in the future.
    just_after_midnight = datetime.fromisoformat("2026-03-16T17:30:00+00:00")
    r = accepted(report("r-1", day="2026-03-17", reported_at=None), now=just_after_midnight)
    assert r.day == date(2026, 3, 17)
    r = accepted(report("r-1", day="2026-03-16", reported_at="2026-03-16T17:29:00Z"), now=just_after_midnight)
    assert (r.day, r.reported_at.astimezone(VN).date()) == (date(2026, 3, 16), date(2026, 3, 17))
