"""Every rule kind, table-driven with an explicit `now` (working time across weekends and 2/9)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import WorkingCalendar
from alerts.model import Severity
from alerts.rulebook.decorate import decorate
from alerts.rulebook.signals_indicator import (
    PlaceChange,
    PlaceValue,
    rate_of_change_signals,
    threshold_signals,
    window_components,
)
from alerts.rulebook.signals_overdue import overdue_kind_signals
from alerts.rulebook.signals_silent import LastHeard, silent_source_signals
from alerts.rulebook.spec import parse_rule
from alerts.rules import DueSoonGroup, OverdueGroup, by_agency

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


THRESHOLD = parse_rule({"id": "on_time_low", "kind": "threshold", "indicator": "on_time_rate", "op": "<",
                        "steps": [{"threshold": 0.9, "severity": "warning"},
                                  {"threshold": 0.7, "severity": "critical"}]})  # fmt: skip


@pytest.mark.parametrize(
    ("value", "severity"), [(0.95, None), (0.9, None), (0.89, Severity.WARNING), (0.6, Severity.CRITICAL), (None, None)]
)
def test_threshold_steps(value: float | None, severity: Severity | None) -> None:
    signals = threshold_signals(THRESHOLD.id, THRESHOLD.params, [PlaceValue("province", "01", "Hà Nội", "01", value)])  # type: ignore[arg-type]
    assert [s.severity for s in signals] == ([severity] if severity else [])
    if severity:
        (s,) = signals
        assert s.labels.as_dict() == {"rule": "on_time_low", "province_code": "01", "severity": severity.value,
                                      "stream": "dossier"}  # fmt: skip
        assert "Hà Nội: Tỷ lệ hồ sơ giải quyết đúng hạn" in s.summary_vi


def test_threshold_at_commune_level_labels_the_commune() -> None:
    spec = parse_rule({"id": "overdue_many", "kind": "threshold", "indicator": "overdue_count", "op": ">=",
                       "threshold": 10, "level": "commune"})  # fmt: skip
    (s,) = threshold_signals(spec.id, spec.params, [PlaceValue("commune", "00004", "Ba Đình", "01", 12.0)])  # type: ignore[arg-type]
    assert (s.labels["commune_code"], s.labels["province_code"], s.value) == ("00004", "01", 12.0)


ROC = parse_rule({"id": "overdue_jump", "kind": "rate_of_change", "indicator": "overdue_count", "window": "1h",
                  "op": ">", "threshold": 20})  # fmt: skip
ROC_REL = parse_rule({"id": "online_drop", "kind": "rate_of_change", "indicator": "online_submission_share",
                      "window": "1d", "mode": "relative", "op": "<", "threshold": -0.5})  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "previous", "current", "fires"),
    [(ROC, 10, 31, True), (ROC, 10, 30, False), (ROC, None, 50, False), (ROC_REL, 0.6, 0.2, True),
     (ROC_REL, 0.6, 0.4, False), (ROC_REL, 0.0, 0.1, False)],
)  # fmt: skip
def test_rate_of_change(spec: object, previous: float | None, current: float | None, fires: bool) -> None:
    from alerts.rulebook.spec import RuleSpec

    assert isinstance(spec, RuleSpec)
    change = PlaceChange("province", "01", "Hà Nội", "01", previous, current)
    assert bool(rate_of_change_signals(spec.id, spec.params, [change])) is fires  # type: ignore[arg-type]


def test_window_components_sum_flows_and_take_the_last_stock() -> None:
    assert window_components("flow", [{"received": 2.0}, {"received": 3.0}]) == {"received": 5.0}
    assert window_components("stock", [{"overdue": 4.0}, {"overdue": 7.0}, {}]) == {"overdue": 7.0}


SILENT = parse_rule({"id": "dossier_feed_silent", "kind": "silent_source", "stream": "dossier",
                     "silent_for": "2h"})  # fmt: skip


@pytest.mark.parametrize(
    ("case", "last", "now", "fires"),
    [
        ("two office hours on a Thursday", vn(2026, 9, 10, 9), vn(2026, 9, 10, 11), True),
        ("just under two hours", vn(2026, 9, 10, 9), vn(2026, 9, 10, 10, 59), False),
        ("a weekend is not silence", vn(2026, 9, 4, 16), vn(2026, 9, 7, 8, 59), False),
        ("Monday 09:00 after Friday 16:00", vn(2026, 9, 4, 16), vn(2026, 9, 7, 9), True),
        ("Quốc khánh 2/9 and the weekend are not silence", vn(2026, 8, 28, 16), vn(2026, 9, 3, 8, 30), False),
        ("after Quốc khánh, office time counts again", vn(2026, 8, 28, 16), vn(2026, 9, 3, 9, 30), True),
        ("calendar days alone do not fire", vn(2026, 8, 28, 16, 30), vn(2026, 9, 3, 8, 0), False),
    ],
)
def test_silent_source_counts_working_time(case: str, last: datetime, now: datetime, fires: bool) -> None:
    signals = silent_source_signals(SILENT.id, SILENT.params, [LastHeard("01", "Hà Nội", last)], now, CAL)  # type: ignore[arg-type]
    assert bool(signals) is fires, case
    for s in signals:
        assert (s.labels["stream"], s.labels["province_code"]) == ("dossier", "01")
        assert "giờ làm việc" in s.summary_vi


def _overdue(oldest: datetime) -> OverdueGroup:
    return OverdueGroup("01", "00004", "UBND-00004", "UBND phường Ba Đình", "Ba Đình", 3, oldest, ("HS-1",))


def _due_soon(earliest: datetime) -> DueSoonGroup:
    return DueSoonGroup("01", "00004", "UBND-00004", "UBND phường Ba Đình", "Ba Đình", 2, earliest, ("HS-2",))


ESCALATING = parse_rule({"id": "overdue", "kind": "overdue", "pre_due_working_days": 2,
                         "steps": [{"days_late": 0, "severity": "warning"},
                                   {"days_late": 3, "severity": "critical"}]})  # fmt: skip


@pytest.mark.parametrize(
    ("case", "oldest_due", "now", "severity"),
    [
        ("due this morning", vn(2026, 9, 7, 9), vn(2026, 9, 7, 15), Severity.WARNING),
        ("two working days late", vn(2026, 9, 7, 9), vn(2026, 9, 9, 10), Severity.WARNING),
        ("three working days late", vn(2026, 9, 7, 9), vn(2026, 9, 10, 10), Severity.CRITICAL),
        ("a weekend does not escalate", vn(2026, 9, 3, 9), vn(2026, 9, 7, 10), Severity.WARNING),
        ("nor does Quốc khánh", vn(2026, 8, 27, 9), vn(2026, 9, 3, 10), Severity.WARNING),
        ("five working days late", vn(2026, 9, 1, 9), vn(2026, 9, 10, 10), Severity.CRITICAL),
    ],
)
def test_overdue_severity_escalates_by_working_days_late(
    case: str, oldest_due: datetime, now: datetime, severity: Severity
) -> None:
    (s,) = overdue_kind_signals("overdue", ESCALATING.params, [_overdue(oldest_due)], [], now, CAL)  # type: ignore[arg-type]
    assert s.severity is severity, case


def test_overdue_first_step_later_than_zero_waits() -> None:
    spec = parse_rule({"id": "overdue_late", "kind": "overdue", "steps": [{"days_late": 2, "severity": "critical"}]})
    params = spec.params
    assert overdue_kind_signals(spec.id, params, [_overdue(vn(2026, 9, 7, 9))], [], vn(2026, 9, 8, 10), CAL) == []  # type: ignore[arg-type]


def test_pre_due_warnings_share_the_rule_with_a_phase_label() -> None:
    now = vn(2026, 9, 7, 10)
    overdue, due_soon = [_overdue(vn(2026, 9, 7, 9))], [_due_soon(vn(2026, 9, 8, 16))]
    signals = overdue_kind_signals("overdue", ESCALATING.params, overdue, due_soon, now, CAL)  # type: ignore[arg-type]
    assert sorted(s.labels.get("phase", "-") for s in signals) == ["-", "due_soon"]
    assert len({s.fingerprint for s in signals}) == 2
    pre = next(s for s in signals if "phase" in s.labels)
    assert pre.severity is Severity.WARNING and "sắp đến hạn trong 2 ngày làm việc" in pre.summary_vi


def test_one_series_per_agency_in_each_phase_with_its_sectors_as_data() -> None:
    # Formerly one series per sector and phase; the rows per sector are now merged to the agency
    # (alerts.rules.by_agency, as the shell does) and the sectors travel in details.
    now = vn(2026, 9, 7, 10)
    overdue = by_agency([replace(_overdue(vn(2026, 9, 7, 9)), sector=name) for name in ("Tư pháp", "Hộ tịch")])
    due_soon = by_agency([replace(_due_soon(vn(2026, 9, 8, 16)), sector="Tư pháp")])
    signals = overdue_kind_signals("overdue", ESCALATING.params, overdue, due_soon, now, CAL)  # type: ignore[arg-type]
    assert sorted((s.labels.get("sector", "-"), s.labels.get("phase", "-")) for s in signals) == [
        ("-", "-"), ("Tư pháp", "due_soon"),
    ]  # fmt: skip
    assert len({s.fingerprint for s in signals}) == 2
    overdue_signal = next(s for s in signals if "phase" not in s.labels)
    assert overdue_signal.details["sectors"] == {"Tư pháp": 3, "Hộ tịch": 3} and overdue_signal.value == 6


def test_pre_due_signals_only_from_the_rule_threshold_on() -> None:
    spec = parse_rule({"id": "due_soon", "kind": "overdue", "steps": [], "pre_due_working_days": 1,
                       "pre_due_min_count": 5})  # fmt: skip
    now, due = vn(2026, 9, 7, 10), vn(2026, 9, 8, 9)
    rows = [replace(_due_soon(due), sector=f"S{i}", agency_code="A-1") for i in range(3)]  # 2 dossiers each
    below = by_agency(rows[:2])  # 4 < 5
    assert overdue_kind_signals(spec.id, spec.params, [], below, now, CAL) == []  # type: ignore[arg-type]
    (s,) = overdue_kind_signals(spec.id, spec.params, [], by_agency(rows), now, CAL)  # type: ignore[arg-type]
    assert s.value == 3 * rows[0].due_soon_count and s.labels["agency_code"] == "A-1"


def test_a_pre_due_only_rule_keeps_the_old_due_soon_labels() -> None:
    spec = parse_rule({"id": "due_soon", "kind": "overdue", "steps": [], "pre_due_working_days": 1})
    (s,) = overdue_kind_signals(spec.id, spec.params, [], [_due_soon(vn(2026, 9, 8, 9))], vn(2026, 9, 7, 10), CAL)  # type: ignore[arg-type]
    assert "phase" not in s.labels and s.rule_id == "due_soon"


def test_decorate_adds_stream_labels_and_templates() -> None:
    spec = parse_rule({"id": "overdue_many", "kind": "threshold", "indicator": "overdue_count", "op": ">",
                       "threshold": 1, "labels": {"team": "vp"}, "summary_vi": "{locality_name}: {value} hồ sơ",
                       "summary_en": "{locality_name}: {value} dossiers ({missing})"})  # fmt: skip
    raw = threshold_signals(spec.id, spec.params, [PlaceValue("province", "01", "Hà Nội", "01", 5.0)])  # type: ignore[arg-type]
    (s,) = decorate(raw, stream="dossier", labels=spec.labels, summary_vi=spec.summary_vi, summary_en=spec.summary_en)
    assert s.labels["team"] == "vp" and s.fingerprint != raw[0].fingerprint
    assert (s.summary_vi, s.summary_en) == ("Hà Nội: 5 hồ sơ", "Hà Nội: 5 dossiers ({missing})")


def test_due_times_are_whole_hours() -> None:
    assert timedelta(hours=1) == ROC.params.window  # type: ignore[union-attr]
