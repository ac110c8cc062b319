"""Alert rules: observations → signals, Vietnamese summaries, working-time cut-offs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from alerts.calendar import CalendarOverrides, WorkingCalendar
from alerts.engine import evaluate
from alerts.model import AlertState, Labels, OpenAlert, Severity, fingerprint
from alerts.rules import (
    DueSoonGroup,
    DueSoonRule,
    MissingApologyGroup,
    MissingApologyRule,
    OnTimeRateRule,
    OnTimeWindow,
    OverdueGroup,
    OverdueRule,
    RuleConfigError,
    RuleInputError,
    by_agency,
    default_rules,
    due_soon_horizon,
    due_soon_signals,
    format_count_vi,
    format_percent_en,
    format_percent_vi,
    missing_apology_cutoff,
    missing_apology_signals,
    on_time_rate_signals,
    overdue_signals,
    rule_hold,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


def overdue_group(count: int = 3, agency_name: str | None = "UBND phường Hồng Hà") -> OverdueGroup:
    return OverdueGroup(
        province_code="01",
        commune_code="00070",
        agency_code="UBND-00070",
        agency_name=agency_name,
        locality_name="Phường Hồng Hà",
        overdue_count=count,
        # 20:00 UTC on the 11th is already the 12th in Hà Nội: the date must be shown locally.
        oldest_due_at=datetime(2026, 11, 11, 20, 0, tzinfo=UTC),
        sample_codes=tuple(f"H01.70-261112-{i:04d}" for i in range(count)),
    )


# --------------------------------------------------------------------------- configuration


def test_default_rules_and_holds() -> None:
    overdue, due_soon, apology, rate = default_rules()
    assert (overdue.id, overdue.severity) == ("overdue", Severity.CRITICAL)
    assert (due_soon.id, due_soon.severity, due_soon.within_working_days) == ("due_soon", Severity.WARNING, 1)
    assert (apology.id, apology.after_working_days) == ("late_without_apology", 1)
    assert (rate.id, rate.target, rate.window, rate.min_resolved) == (
        "on_time_rate",
        0.90,
        timedelta(days=7),
        20,
    )
    assert [rule_hold(r) for r in default_rules()] == [timedelta(0)] * 3 + [timedelta(minutes=15)]


@pytest.mark.parametrize(
    "build",
    [
        lambda: OnTimeRateRule(target=0),
        lambda: OnTimeRateRule(target=1.5),
        lambda: OnTimeRateRule(hold=timedelta(seconds=-1)),
        lambda: OnTimeRateRule(min_resolved=0),
        lambda: OnTimeRateRule(window=timedelta(0)),
        lambda: DueSoonRule(within_working_days=0),
        lambda: MissingApologyRule(after_working_days=-1),
    ],
)
def test_nonsense_configuration_is_rejected(build: object) -> None:
    with pytest.raises(RuleConfigError):
        build()  # type: ignore[operator]


# --------------------------------------------------------------------------- per-dossier rules


def test_overdue_group_signal_and_summary() -> None:
    (s,) = overdue_signals(OverdueRule(), [overdue_group()])
    assert s.summary_vi == "Phường Hồng Hà – UBND phường Hồng Hà: 3 hồ sơ quá hạn (quá hạn lâu nhất từ 12/11/2026)"
    assert s.summary_en == "Phường Hồng Hà – UBND phường Hồng Hà: 3 overdue dossiers (oldest overdue since 12 Nov 2026)"
    assert (s.rule_id, s.severity, s.value) == ("overdue", Severity.CRITICAL, 3.0)
    assert s.labels.as_dict() == {
        "rule": "overdue",
        "province_code": "01",
        "commune_code": "00070",
        "agency_code": "UBND-00070",
        "severity": "critical",
    }
    assert s.fingerprint == fingerprint("overdue", s.labels)
    assert s.details["sample_codes"] == overdue_group().sample_codes
    assert s.details["oldest_due_at"] == "2026-11-12T03:00:00+07:00"


@pytest.mark.parametrize(
    ("case", "group", "expected_vi", "expected_en"),
    [
        (
            "one dossier, singular English",
            overdue_group(count=1),
            ": 1 hồ sơ quá hạn",
            ": 1 overdue dossier (",
        ),
        (
            "thousands separators",
            overdue_group(count=1234),
            ": 1.234 hồ sơ quá hạn",
            ": 1,234 overdue dossiers",
        ),
        (
            "no agency name",
            overdue_group(agency_name=None),
            "Phường Hồng Hà: 3 hồ sơ",
            "Phường Hồng Hà: 3 overdue",
        ),
    ],
)
def test_overdue_summary_variants(case: str, group: OverdueGroup, expected_vi: str, expected_en: str) -> None:
    (s,) = overdue_signals(OverdueRule(), [group])
    assert expected_vi in s.summary_vi, case
    assert expected_en in s.summary_en, case


def test_overdue_group_fires_immediately_then_resolves_when_gone() -> None:
    rule = OverdueRule()
    now = vn(2026, 11, 13, 9)
    signals = overdue_signals(rule, [overdue_group()])
    (t,) = evaluate(now, rule.id, rule_hold(rule), signals, []).transitions
    assert (t.alert_id, t.from_state, t.to_state) == (None, None, AlertState.FIRING)

    (s,) = signals
    opened = OpenAlert(
        id=1,
        rule_id=s.rule_id,
        fingerprint=s.fingerprint,
        labels=s.labels,
        severity=s.severity,
        state=AlertState.FIRING,
        value=s.value,
        active_since=now,
        fired_at=now,
        version=1,
        summary_vi=s.summary_vi,
        summary_en=s.summary_en,
    )
    later = now + timedelta(minutes=1)
    (r,) = evaluate(later, rule.id, rule_hold(rule), overdue_signals(rule, []), [opened]).transitions
    assert (r.alert_id, r.from_state, r.to_state, r.at, r.signal) == (
        1,
        AlertState.FIRING,
        AlertState.RESOLVED,
        later,
        None,
    )


def test_overdue_series_are_one_per_agency_with_the_sectors_as_data() -> None:
    # Formerly one series per sector; now the agency is the series (someone acts on an agency, not
    # on a sector), its rows per sector merged by by_agency and the sectors carried in details.
    group = overdue_group()
    tu_phap = OverdueGroup(**{**group.__dict__, "sector": "Tư pháp"})
    ho_tich = OverdueGroup(**{**group.__dict__, "sector": "Hộ tịch", "overdue_count": 5})
    (s,) = overdue_signals(OverdueRule(), by_agency([tu_phap, ho_tich]))
    assert "sector" not in s.labels and s.labels["agency_code"] == "UBND-00070"
    assert s.value == 8 and s.details["sectors"] == {"Hộ tịch": 5, "Tư pháp": 3}
    assert s.summary_vi == (
        "Phường Hồng Hà – UBND phường Hồng Hà (2 lĩnh vực): 8 hồ sơ quá hạn (quá hạn lâu nhất từ 12/11/2026)"
    )
    assert s.summary_en.startswith("Phường Hồng Hà – UBND phường Hồng Hà (2 sectors): 8 overdue dossiers")


def test_an_agency_with_one_sector_names_it_without_making_it_part_of_the_identity() -> None:
    group = overdue_group()
    (one,) = overdue_signals(OverdueRule(), by_agency([OverdueGroup(**{**group.__dict__, "sector": "Tư pháp"})]))
    assert one.labels["sector"] == "Tư pháp" and one.details["sectors"] == {"Tư pháp": 3}
    assert one.summary_vi == (
        "Phường Hồng Hà – UBND phường Hồng Hà – lĩnh vực Tư pháp: 3 hồ sơ quá hạn (quá hạn lâu nhất từ 12/11/2026)"
    )
    assert one.summary_en.startswith("Phường Hồng Hà – UBND phường Hồng Hà – Tư pháp sector: 3 overdue dossiers")
    # A second sector's dossier arriving is the same alert, updated: the sector is not identity.
    two = by_agency([OverdueGroup(**{**group.__dict__, "sector": s}) for s in ("Tư pháp", "Hộ tịch")])
    (both,) = overdue_signals(OverdueRule(), two)
    assert both.fingerprint == one.fingerprint and "sector" not in both.labels


@pytest.mark.parametrize("sector", [None, ""])
def test_a_group_without_sector_carries_no_sector_label(sector: str | None) -> None:
    group = OverdueGroup(**{**overdue_group().__dict__, "sector": sector})
    (s,) = overdue_signals(OverdueRule(), [group])
    assert "sector" not in s.labels
    assert s.summary_vi.startswith("Phường Hồng Hà – UBND phường Hồng Hà: 3 hồ sơ quá hạn")


def test_due_soon_and_missing_apology_carry_the_sector() -> None:
    due = DueSoonGroup("01", "00070", "UBND-00070", None, "Phường Hồng Hà", 1, vn(2026, 11, 13, 10), (), "Đất đai")
    late = MissingApologyGroup("01", "00070", None, None, "Phường Hồng Hà", 2, vn(2026, 11, 10, 17), (), "Đất đai")
    (d,) = due_soon_signals(DueSoonRule(), [due])
    (m,) = missing_apology_signals(MissingApologyRule(), [late])
    assert d.labels["sector"] == m.labels["sector"] == "Đất đai"
    assert d.summary_vi.startswith("Phường Hồng Hà – lĩnh vực Đất đai: 1 hồ sơ sắp đến hạn")
    assert m.summary_vi.startswith("Phường Hồng Hà – lĩnh vực Đất đai: 2 hồ sơ trễ hạn chưa có thư xin lỗi")
    assert m.summary_en.startswith("Phường Hồng Hà – Đất đai sector: 2 late dossiers")


def test_zero_count_groups_do_not_signal() -> None:
    assert overdue_signals(OverdueRule(), [overdue_group(count=0)]) == []


def test_sample_codes_are_capped() -> None:
    (s,) = overdue_signals(OverdueRule(), [overdue_group(count=50)])
    assert len(s.details["sample_codes"]) == 20  # type: ignore[arg-type]
    assert s.value == 50.0


def test_due_soon_summary_has_diacritics_and_local_time() -> None:
    group = DueSoonGroup(
        province_code="01",
        commune_code="00070",
        agency_code="UBND-00070",
        agency_name="UBND phường Hồng Hà",
        locality_name="Phường Hồng Hà",
        due_soon_count=2,
        earliest_due_at=datetime(2026, 11, 13, 10, 0, tzinfo=UTC),
        sample_codes=("A", "B"),
    )
    (s,) = due_soon_signals(DueSoonRule(), [group])
    assert s.summary_vi == (
        "Phường Hồng Hà – UBND phường Hồng Hà: 2 hồ sơ sắp đến hạn trong 1 ngày làm việc "
        "(hạn sớm nhất 17:00 ngày 13/11/2026)"
    )
    assert s.summary_en.endswith("2 dossiers due within 1 working day (earliest due 17:00, 13 Nov 2026)")
    assert (s.rule_id, s.severity) == ("due_soon", Severity.WARNING)


def test_missing_apology_summary_has_diacritics() -> None:
    group = MissingApologyGroup(
        province_code="79",
        commune_code="26734",
        agency_code="UBND-26734",
        agency_name="UBND phường Sài Gòn",
        locality_name="Phường Sài Gòn",
        count=4,
        oldest_late_since=vn(2026, 11, 10, 17),
        sample_codes=("X1",),
    )
    (s,) = missing_apology_signals(MissingApologyRule(), [group])
    assert s.summary_vi == (
        "Phường Sài Gòn – UBND phường Sài Gòn: 4 hồ sơ trễ hạn chưa có thư xin lỗi (trễ hạn từ 10/11/2026)"
    )
    assert "4 late dossiers without an apology letter (late since 10 Nov 2026)" in s.summary_en
    assert (s.rule_id, s.labels["severity"]) == ("late_without_apology", "warning")


def test_naive_datetime_in_observation_is_rejected() -> None:
    group = overdue_group()
    naive = OverdueGroup(**{**group.__dict__, "oldest_due_at": datetime(2026, 11, 12)})
    with pytest.raises(RuleInputError):
        overdue_signals(OverdueRule(), [naive])


# --------------------------------------------------------------------------- on-time rate


@pytest.mark.parametrize(
    ("case", "resolved", "on_time", "fires"),
    [
        ("below target", 200, 175, True),
        ("exactly at target", 200, 180, False),
        ("exactly at target, awkward denominator", 70, 63, False),
        ("one dossier short of target", 70, 62, True),
        ("above target", 100, 99, False),
        ("below target but under min_resolved", 19, 0, False),
        ("at min_resolved and below target", 20, 17, True),
    ],
)
def test_on_time_rate_threshold(case: str, resolved: int, on_time: int, fires: bool) -> None:
    windows = [OnTimeWindow("01", "Thành phố Hà Nội", resolved=resolved, resolved_on_time=on_time)]
    signals = on_time_rate_signals(OnTimeRateRule(), windows)
    assert bool(signals) == fires, case
    if fires:
        assert signals[0].value == pytest.approx(on_time / resolved)
        assert signals[0].labels.as_dict() == {
            "rule": "on_time_rate",
            "province_code": "01",
            "severity": "warning",
        }


def test_on_time_rate_summary() -> None:
    windows = [OnTimeWindow("01", "Thành phố Hà Nội", resolved=1200, resolved_on_time=1050)]
    (s,) = on_time_rate_signals(OnTimeRateRule(), windows)
    assert s.summary_vi == (
        "Thành phố Hà Nội: tỷ lệ giải quyết đúng hạn 87,5 % (1.050/1.200 hồ sơ) trong 7 ngày qua, dưới mục tiêu 90 %"
    )
    assert s.summary_en == (
        "Thành phố Hà Nội: on-time rate 87.5% (1,050/1,200 dossiers) over the last 7 days, below the 90% target"
    )


def test_impossible_window_is_rejected() -> None:
    with pytest.raises(RuleInputError):
        on_time_rate_signals(OnTimeRateRule(), [OnTimeWindow("01", "Hà Nội", resolved=20, resolved_on_time=21)])


@pytest.mark.parametrize(
    ("rate", "vi", "en"),
    [
        (Fraction(7, 8), "87,5 %", "87.5%"),
        (0.9, "90 %", "90%"),
        (Fraction(8999, 10000), "89,9 %", "89.9%"),  # truncated: never shown as the target it missed
        (Fraction(1, 3), "33,3 %", "33.3%"),
        (1, "100 %", "100%"),
        (0, "0 %", "0%"),
    ],
)
def test_percent_formatting(rate: Fraction | float, vi: str, en: str) -> None:
    assert (format_percent_vi(rate), format_percent_en(rate)) == (vi, en)


@pytest.mark.parametrize(("n", "text"), [(0, "0"), (999, "999"), (1000, "1.000"), (1234567, "1.234.567")])
def test_count_formatting(n: int, text: str) -> None:
    assert format_count_vi(n) == text


# --------------------------------------------------------------------------- working-time cut-offs


@pytest.mark.parametrize(
    ("case", "now", "cutoff"),
    [
        ("mid-week", vn(2026, 11, 11, 10), vn(2026, 11, 10, 10)),
        ("Monday morning reaches back over the weekend", vn(2026, 11, 16, 9), vn(2026, 11, 13, 9)),
        ("Saturday counts from Friday's close", vn(2026, 11, 14, 11), vn(2026, 11, 13, 8)),
        # 30/4 and 1/5/2026 are holidays (Thu, Fri), then a weekend.
        ("after 30/4–1/5", vn(2026, 5, 4, 9), vn(2026, 4, 29, 9)),
        # 27/4/2026 is the observed Giỗ Tổ Hùng Vương day off (26/4 is a Sunday).
        ("after Giỗ Tổ and a weekend", vn(2026, 4, 28, 10), vn(2026, 4, 24, 10)),
    ],
)
def test_missing_apology_cutoff(case: str, now: datetime, cutoff: datetime) -> None:
    assert missing_apology_cutoff(now, CAL) == cutoff, case


def test_missing_apology_cutoff_respects_operator_days_off_and_rule() -> None:
    provincial_day_off = WorkingCalendar(CalendarOverrides(days_off=frozenset({vn(2026, 11, 13).date()})))
    assert missing_apology_cutoff(vn(2026, 11, 16, 9), provincial_day_off) == vn(2026, 11, 12, 9)
    two_days = MissingApologyRule(after_working_days=2)
    assert missing_apology_cutoff(vn(2026, 11, 16, 9), CAL, two_days) == vn(2026, 11, 12, 9)


@pytest.mark.parametrize(
    ("case", "now", "horizon"),
    [
        ("mid-week", vn(2026, 11, 11, 10), vn(2026, 11, 12, 10)),
        ("Friday afternoon reaches Monday", vn(2026, 11, 13, 15), vn(2026, 11, 16, 15)),
        ("Wednesday before 30/4–1/5", vn(2026, 4, 29, 16), vn(2026, 5, 4, 16)),
    ],
)
def test_due_soon_horizon(case: str, now: datetime, horizon: datetime) -> None:
    assert due_soon_horizon(now, CAL) == horizon, case


# --------------------------------------------------------------------------- labels and fingerprints


def test_fingerprint_is_stable_regardless_of_label_order() -> None:
    a = {"province_code": "01", "commune_code": "00070", "agency_code": "X"}
    b = dict(reversed(list(a.items())))
    assert list(a) != list(b)
    assert fingerprint("overdue", a) == fingerprint("overdue", b) == fingerprint("overdue", Labels.of(b))
    assert len(fingerprint("overdue", a)) == 16
    assert fingerprint("overdue", a) != fingerprint("due_soon", a)
    assert fingerprint("overdue", a) != fingerprint("overdue", {**a, "agency_code": "Y"})
    # Pinned: the database holds fingerprints, so the algorithm must not drift silently.
    assert fingerprint("overdue", {"commune_code": "00070", "province_code": "01"}) == "96e6d46581280c47"
    assert fingerprint("overdue", {"province_code": "01", "commune_code": "00070", "severity": "info"}) == (
        "96e6d46581280c47"
    )


def test_labels_are_a_sorted_immutable_mapping() -> None:
    labels = Labels.of(severity="warning", commune_code=None, province_code="01")
    assert list(labels) == ["province_code", "severity"]
    assert labels == Labels.of({"province_code": "01"}, severity="warning")
    assert hash(labels) == hash(Labels.of(province_code="01", severity="warning"))
    with pytest.raises(ValueError, match="duplicate"):
        Labels((("a", "1"), ("a", "2")))
