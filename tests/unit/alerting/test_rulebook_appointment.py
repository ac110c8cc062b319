"""The ``appointment_beyond_statutory`` rule kind: parsing, merging per agency, the signal."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import WorkingCalendar
from alerts.model import Severity
from alerts.rulebook.errors import RuleSpecError
from alerts.rulebook.signals_appointment import BeyondStatutoryGroup, appointment_beyond_signals, merge_by_agency
from alerts.rulebook.spec import AppointmentBeyondStatutoryParams, parse_rule, rule_to_json

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()


def vn(d: int, hh: int) -> datetime:
    return datetime(2026, 3, d, hh, tzinfo=VN)


def row(
    agency: str | None, sector: str | None, count: int, statutory: datetime, appointment: datetime,
    codes: tuple[str, ...], commune: str = "00004",
) -> BeyondStatutoryGroup:  # fmt: skip
    return BeyondStatutoryGroup("01", commune, agency, f"UBND {agency}" if agency else None, "Phường Ba Đình",
                                count, statutory, appointment, codes, sector)  # fmt: skip


def test_the_kind_parses_and_writes_back() -> None:
    spec = parse_rule({"id": "beyond", "kind": "appointment_beyond_statutory", "min_count": 3, "severity": "critical"})
    assert spec.params == AppointmentBeyondStatutoryParams(3, Severity.CRITICAL)
    assert spec.kind == "appointment_beyond_statutory" and spec.streams == frozenset({"dossier"})
    assert parse_rule(rule_to_json(spec)) == spec
    assert parse_rule({"id": "beyond", "kind": "appointment_beyond_statutory"}).params == (
        AppointmentBeyondStatutoryParams()
    )


@pytest.mark.parametrize("bad", [{"min_count": 0}, {"min_count": "2"}, {"severity": "loud"}, {"extra": 1}])
def test_bad_parameters_are_named(bad: dict[str, object]) -> None:
    with pytest.raises(RuleSpecError) as caught:
        parse_rule({"id": "beyond", "kind": "appointment_beyond_statutory", **bad})
    assert next(iter(bad)) in str(caught.value)


def test_rows_merge_per_agency_with_the_worst_overshoot() -> None:
    rows = [
        row("AG-1", "Hộ tịch", 2, vn(10, 9), vn(11, 9), ("A1", "A2")),  # one working day beyond
        row("AG-2", None, 1, vn(10, 9), vn(10, 12), ("B1",)),
        row("AG-1", "Đất đai", 1, vn(10, 9), vn(13, 9), ("A3",)),  # three working days beyond
        row(None, "Tư pháp", 4, vn(10, 9), vn(10, 10), ("C1",), commune="00007"),
    ]
    merged = merge_by_agency(rows)
    assert [(g.agency_code, g.commune_code, g.count) for g in merged] == [
        ("AG-1", "00004", 3),
        ("AG-2", "00004", 1),
        (None, "00007", 4),
    ]  # first seen first; one group per agency, per commune without one
    first = merged[0]
    assert (first.worst_statutory_due_at, first.worst_appointment_at) == (vn(10, 9), vn(13, 9))
    assert first.sector is None and first.sector_counts == (("Hộ tịch", 2), ("Đất đai", 1))
    assert first.sample_codes == ("A1", "A2", "A3")
    assert merged[1].sector is None and merged[2].sector == "Tư pháp"


def test_one_signal_per_group_from_min_count() -> None:
    groups = merge_by_agency([
        row("AG-1", "Hộ tịch", 2, vn(10, 9), vn(13, 9), ("A1", "A2")),
        row("AG-2", None, 1, vn(10, 9), vn(10, 12), ("B1",)),
    ])  # fmt: skip
    signals = appointment_beyond_signals("beyond", AppointmentBeyondStatutoryParams(min_count=2), groups, CAL)
    assert len(signals) == 1
    s = signals[0]
    assert s.value == 2.0 and s.severity is Severity.WARNING
    assert (s.labels.get("agency_code"), s.labels.get("sector"), s.labels.get("province_code")) == (
        "AG-1", "Hộ tịch", "01")  # fmt: skip
    assert s.details["worst_working_seconds_beyond"] == 3 * 9 * 3600
    assert "3 ngày làm việc" in s.summary_vi and "by up to 3 working days" in s.summary_en
    everyone = appointment_beyond_signals("beyond", AppointmentBeyondStatutoryParams(), groups, CAL)
    assert [x.value for x in everyone] == [2.0, 1.0]
    assert "1 dossier promised" in everyone[1].summary_en and "0,3 ngày" in everyone[1].summary_vi
