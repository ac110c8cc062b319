"""Indicator definitions against small fixtures whose values were worked out by hand.

Each fixture gives the components a period would gather; the comment beside each expectation
shows the arithmetic.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ioc.indicators.definitions import (
    DOSSIER_FLOWS,
    DOSSIER_STOCKS,
    ID_STATE,
    INDICATORS,
    PAYOUT_STATE,
    combine,
    ratio,
    readme_table,
    required_daily_pace,
    value_of,
    values_of,
)
from ioc.indicators.stream_state import IdRow, L2Target, PayoutRow, id_components, payout_components

# Commune A over two days and commune B over one day, as the daily rollup would hold them.
A_DAY1 = {"received": 10, "received_online": 4, "resolved": 8, "resolved_early": 3, "resolved_on_time": 4,
          "resolved_late": 1}  # fmt: skip
A_DAY2 = {"received": 6, "received_online": 3, "resolved": 5, "resolved_early": 0, "resolved_on_time": 3,
          "resolved_late": 2}  # fmt: skip
B_DAY1 = {"received": 4, "received_online": 4, "resolved": 7, "resolved_early": 7, "resolved_on_time": 0,
          "resolved_late": 0}  # fmt: skip


def test_on_time_rate_is_early_plus_on_time_over_resolved() -> None:
    # A, day 1: (3 + 4) / 8 = 0.875
    assert value_of("on_time_rate", A_DAY1) == pytest.approx(0.875)
    # A, both days: (3 + 0 + 4 + 3) / (8 + 5) = 10 / 13 = 0.769230…
    assert value_of("on_time_rate", combine([A_DAY1, A_DAY2])) == pytest.approx(10 / 13)
    # The province (A and B, both days): (3 + 0 + 7 + 4 + 3 + 0) / (8 + 5 + 7) = 17 / 20 = 0.85
    assert value_of("on_time_rate", combine([A_DAY1, A_DAY2, B_DAY1])) == pytest.approx(0.85)


def test_a_rate_of_sums_is_not_the_mean_of_rates() -> None:
    # Mean of the daily rates would be (0.875 + 0.6) / 2 = 0.7375; the period's rate is 10 / 13.
    day_rates = [value_of("on_time_rate", A_DAY1), value_of("on_time_rate", A_DAY2)]
    assert day_rates == [pytest.approx(0.875), pytest.approx(0.6)]  # 7/8, 3/5
    assert value_of("on_time_rate", combine([A_DAY1, A_DAY2])) != pytest.approx(0.7375)


def test_online_submission_share() -> None:
    # Province: (4 + 3 + 4) / (10 + 6 + 4) = 11 / 20 = 0.55
    assert value_of("online_submission_share", combine([A_DAY1, A_DAY2, B_DAY1])) == pytest.approx(0.55)


def test_nothing_counted_is_no_data_not_zero() -> None:
    quiet = dict.fromkeys(DOSSIER_FLOWS, 0)
    assert value_of("on_time_rate", quiet) is None  # 0 resolved: 0 / 0 is no rate at all
    assert value_of("online_submission_share", quiet) is None
    assert value_of("on_time_rate", {}) is None


@pytest.mark.parametrize("code", ["full_online_share", "digitisation_rate", "online_payment_share",
                                  "satisfaction_rate"])  # fmt: skip
def test_quality_indicators_are_no_data_until_something_is_stated(code: str) -> None:
    # Fixtures from before the quality fields: none of their components present, or all zero.
    assert value_of(code, combine([A_DAY1, A_DAY2, B_DAY1])) is None
    assert value_of(code, dict.fromkeys(DOSSIER_FLOWS, 0)) is None
    assert INDICATORS[code].ingested


def test_quality_indicators_from_hand_counted_components() -> None:
    # A commune's day: 20 receipts, 12 online (5 stated full-process, 4 partial, 3 stated nothing)
    # and 8 direct; 15 receipts stated their digitisation, 9 of them digitised; 12 dossiers paid
    # their fee, 3 online; 20 ratings, 18 very satisfied or satisfied.
    c = {"received": 20, "received_online": 12, "received_full_online": 5,
         "received_level_stated": 5 + 4,  # online receipts that stated full or partial
         "digitised": 9, "digitised_known": 15, "fee_payments": 12, "fee_payments_online": 3,
         "ratings": 20, "ratings_satisfied": 18}  # fmt: skip
    # full-process / (direct receipts, known not to be online services, + online ones that stated a level)
    # = 5 / ((20 − 12) + 9) = 5 / 17 = 0.294117…: the 3 unstated online receipts are left out
    assert value_of("full_online_share", c) == pytest.approx(5 / 17)
    # No online receipt stated a level: no value, rather than 0 % (the direct ones alone say nothing).
    assert value_of("full_online_share", {**c, "received_full_online": 0, "received_level_stated": 0}) is None
    assert value_of("digitisation_rate", c) == pytest.approx(0.6)  # 9 / 15
    assert value_of("online_payment_share", c) == pytest.approx(0.25)  # 3 / 12
    assert value_of("satisfaction_rate", c) == pytest.approx(0.9)  # 18 / 20
    # Two such days: rates of the sums, e.g. digitisation (9 + 9) / (15 + 15) = 0.6 again; and a day
    # with 5 more ratings all dissatisfied gives 18 / 25 = 0.72.
    assert value_of("satisfaction_rate", combine([c, {"ratings": 5, "ratings_satisfied": 0}])) == pytest.approx(0.72)


def test_stock_counts_add_across_localities() -> None:
    # Commune A: 3 overdue, 2 late without apology; commune B: 0 and 5. Province: 3 and 7.
    province = combine([{"overdue": 3, "late_without_apology": 2}, {"overdue": 0, "late_without_apology": 5}])
    assert value_of("overdue_count", province) == 3
    assert value_of("late_without_apology_count", province) == 7


def test_payout_indicators() -> None:
    # Two programmes in one commune, as of a day after both deadlines:
    #   meritorious: 1,000 due, 950 paid by the deadline, 980 paid now (800 bank, 60 card, 20 e-wallet,
    #     100 cash), 15 failed;
    #   social protection: 500 due, 400 paid by the deadline, 450 paid now (150 bank, 0 card, 30 e-wallet,
    #     270 cash), 40 failed.
    merit = {"payout_due": 1000, "payout_paid_by_deadline": 950, "payout_paid": 980, "payout_paid_cashless": 880,
             "payout_failed": 15}  # fmt: skip
    social = {"payout_due": 500, "payout_paid_by_deadline": 400, "payout_paid": 450, "payout_paid_cashless": 180,
              "payout_failed": 40}  # fmt: skip
    both = combine([merit, social])
    # completion: (950 + 400) / (1000 + 500) = 1350 / 1500 = 0.9 (payments after the deadline do not count)
    assert value_of("payout_completion", both) == pytest.approx(0.9)
    # cashless: (880 + 180) / (980 + 450) = 1060 / 1430 = 0.741258…
    assert value_of("payout_cashless_share", both) == pytest.approx(1060 / 1430)
    # failure: (15 + 40) / (980 + 450 + 15 + 40) = 55 / 1485 = 0.037037…
    assert value_of("payout_failure_rate", both) == pytest.approx(55 / 1485)
    # Nothing paid and nothing failed: no failure rate, no cashless share.
    assert value_of("payout_failure_rate", {"payout_paid": 0, "payout_failed": 0}) is None
    assert value_of("payout_cashless_share", {"payout_paid": 0, "payout_paid_cashless": 0}) is None


def test_cccd_coverage_binh_duong() -> None:
    # The brief's Bình Dương figure: 1,919,976 issued of 1,972,053 eligible = 97.36 %.
    c = {"id_cccd_issued_total": 1_919_976, "id_eligible_population": 1_972_053}
    assert value_of("cccd_coverage", c) == pytest.approx(0.97359, abs=1e-5)


def test_vneid_level_2_against_target_and_pace() -> None:
    # Bình Dương, 16/3/2023: 172,986 activated against a target of 1,200,000 by 20/6/2023.
    # activation vs target: 172,986 / 1,200,000 = 0.144155
    c = {"id_l2_activated_total": 172_986, "id_l2_target": 1_200_000}
    assert value_of("vneid_l2_activation", c) == pytest.approx(0.144155)
    # Days from 17/3 to 20/6 inclusive: 15 (rest of March) + 30 (April) + 31 (May) + 20 (June) = 96
    # = (20/6 − 16/3).days. Pace: (1,200,000 − 172,986) / 96 = 1,027,014 / 96 = 10,698.06 a day.
    assert required_daily_pace(1_200_000, 172_986, 96) == pytest.approx(10_698.0625)
    assert value_of("vneid_l2_required_daily_pace", {"id_l2_required_pace": 10_698.0625}) == pytest.approx(10_698.0625)
    assert value_of("vneid_l2_activation", {"id_l2_activated_total": 5, "id_l2_target": None}) is None  # no target


def test_required_pace_edges() -> None:
    assert required_daily_pace(100, 120, 10) == 0.0  # target met: nothing more needed
    assert required_daily_pace(100, 40, 0) is None  # deadline is the as-of day: no day left
    assert required_daily_pace(100, 40, -3) is None  # deadline passed
    assert required_daily_pace(100, 40, 1) == 60.0  # everything on the last day


def test_combine_keeps_unmeasured_components_apart_from_zero() -> None:
    assert combine([{"a": 1, "b": None}, {"a": 2}]) == {"a": 3, "b": None}
    assert combine([{"b": None}, {"b": 4}]) == {"b": 4}
    assert combine([]) == {}
    assert ratio(1, 0) is None and ratio(None, 3) is None and ratio(3, None) is None and ratio(1, 4) == 0.25


def test_every_indicator_of_the_contract_is_defined_once() -> None:
    assert set(INDICATORS) == {
        "on_time_rate", "overdue_count", "online_submission_share", "full_online_share", "digitisation_rate",
        "online_payment_share", "satisfaction_rate", "late_without_apology_count", "payout_completion",
        "payout_cashless_share", "payout_failure_rate", "cccd_coverage", "vneid_l2_activation",
        "vneid_l2_required_daily_pace", "appointment_beyond_statutory_count",
    }  # fmt: skip
    known = {*DOSSIER_FLOWS, *DOSSIER_STOCKS, *PAYOUT_STATE, *ID_STATE}
    for indicator in INDICATORS.values():
        assert set(indicator.components) <= known, indicator.code
        assert indicator.name_vi and indicator.name_en and indicator.counts_vi and indicator.counts_en
        assert indicator.as_dict()["code"] == indicator.code
    assert set(values_of({})) == set(INDICATORS)
    assert all(f"`{code}`" in readme_table() for code in INDICATORS)


# -- the payout and ID-issuance rules (ioc/indicators/stream_state.py) ---------------------------

D = date(2026, 11, 20)
OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)


def _payout(commune: str, programme: str, month: date, due: int, paid: int, cashless: int, failed: int,
            by_deadline: int, province: str = "01") -> PayoutRow:  # fmt: skip
    return PayoutRow(D, province, commune, programme, month, due, paid, cashless, failed, by_deadline)


def test_payout_takes_this_months_cycle_and_prefers_the_province_wide_report() -> None:
    rows = [
        # người có công: a province-wide report for November and October; two communes too.
        _payout("", "ncc", NOV, 1000, 900, 650, 30, 900),
        _payout("", "ncc", OCT, 990, 990, 600, 0, 980),  # last month's cycle: superseded by November's
        _payout("00004", "ncc", NOV, 100, 90, 50, 0, 90),  # inside the province-wide figure
        # bảo trợ xã hội: communes only (no province-wide report), November not yet reported in 00008.
        _payout("00004", "btxh", NOV, 200, 100, 0, 0, 100),
        _payout("00008", "btxh", OCT, 50, 50, 10, 0, 45),  # last month's cycle stands in for 00008
    ]
    province = payout_components(rows, "province")[("01", D)]
    # due 1000 + 200 + 50 = 1250; by deadline 900 + 100 + 45 = 1045; paid 900 + 100 + 50 = 1050;
    # cashless 650 + 0 + 10 = 660; failed 30 + 0 + 0 = 30.
    assert province == {"payout_due": 1250, "payout_paid_by_deadline": 1045, "payout_paid": 1050,
                        "payout_paid_cashless": 660, "payout_failed": 30}  # fmt: skip
    assert value_of("payout_completion", province) == pytest.approx(1045 / 1250)  # 0.836
    communes = payout_components(rows, "commune")
    # 00004: ncc (100 due, 90 paid) + btxh (200 due, 100 paid) → completion 190 / 300
    assert value_of("payout_completion", communes[("00004", D)]) == pytest.approx(190 / 300)
    assert communes[("00008", D)]["payout_due"] == 50
    assert ("", D) not in communes  # a province-wide report is no commune's


def _id(commune: str, eligible: int, cards: int, accounts: int, province: str = "01") -> IdRow:
    return IdRow(D, province, commune, eligible, cards, accounts)


def test_id_prefers_the_province_report_and_sums_commune_targets() -> None:
    rows = [_id("", 1_000_000, 950_000, 400_000), _id("00004", 10_000, 9_000, 2_000),
            _id("00008", 20_000, 19_000, 5_000), _id("", 500_000, 400_000, 100_000, province="79")]  # fmt: skip
    targets = [L2Target("01", "", 1_000_000, D + timedelta(days=10)),
               L2Target("79", "25747", 3_000, D + timedelta(days=5))]  # fmt: skip
    hn = id_components(rows, targets, "province")[("01", D)]
    # The province report stands for Hà Nội: coverage 950,000 / 1,000,000 = 0.95;
    # activation 400,000 / 1,000,000 = 0.4; pace (1,000,000 − 400,000) / 10 = 60,000 a day.
    assert value_of("cccd_coverage", hn) == pytest.approx(0.95)
    assert value_of("vneid_l2_activation", hn) == pytest.approx(0.4)
    assert value_of("vneid_l2_required_daily_pace", hn) == pytest.approx(60_000)
    # 79 has a commune target but no report from that commune: no activation figure.
    hcm = id_components(rows, targets, "province")[("79", D)]
    assert value_of("cccd_coverage", hcm) == pytest.approx(0.8) and hcm["id_l2_target"] is None
    # Without the province report, Hà Nội is the sum of its communes: (9,000 + 19,000) / 30,000.
    communes_only = id_components(rows[1:3], [], "province")[("01", D)]
    assert value_of("cccd_coverage", communes_only) == pytest.approx(28_000 / 30_000)
    assert value_of("vneid_l2_activation", communes_only) is None  # no target
    commune_targets = [L2Target("01", "00004", 4_000, D + timedelta(days=4)),
                       L2Target("01", "00008", 5_000, D + timedelta(days=2))]  # fmt: skip
    summed = id_components(rows[1:3], commune_targets, "province")[("01", D)]
    # targets 4,000 + 5,000 = 9,000 against 2,000 + 5,000 = 7,000 activated → 0.7778;
    # pace (4,000 − 2,000) / 4 + 0 (00008 already met its 5,000) = 500 a day.
    assert value_of("vneid_l2_activation", summed) == pytest.approx(7 / 9)
    assert value_of("vneid_l2_required_daily_pace", summed) == pytest.approx(500)
    by_commune = id_components(rows, commune_targets, "commune")
    assert value_of("vneid_l2_activation", by_commune[("00004", D)]) == pytest.approx(0.5)
    assert ("", D) not in by_commune
