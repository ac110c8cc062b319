"""The pure parts of issue 11: grouping dossier rows to the agency, the cardinality guard, and
splitting a live NOTIFY under PostgreSQL's 8,000-byte limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from alerts.engine import EngineInputError, Policy, evaluate, guard_cardinality
from alerts.model import AlertState, OpenAlert, Severity, Signal
from alerts.rulebook.decorate import decorate
from alerts.rules import (
    MAX_SAMPLE_CODES,
    DueSoonGroup,
    MissingApologyGroup,
    OverdueGroup,
    OverdueRule,
    by_agency,
    overdue_signals,
)
from ioc.live.channel import NOTIFY_BUDGET_BYTES, NOTIFY_MAX_BYTES, chunk_payloads

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 12, 10, 0, tzinfo=VN)


def row(
    agency: str | None, sector: str | None, count: int, hours_ago: int, commune: str = "00004", province: str = "01"
) -> OverdueGroup:
    due = NOW - timedelta(hours=hours_ago)
    codes = tuple(f"{agency}-{sector}-{i}" for i in range(count))
    return OverdueGroup(province, commune, agency, agency and f"Cơ quan {agency}", "Ba Đình", count, due, codes, sector)


# --------------------------------------------------------------------------- grouping to the agency


def test_rows_of_one_agency_merge_into_one_group_with_sector_counts() -> None:
    merged = by_agency([row("A", "Tư pháp", 2, 5), row("B", "Hộ tịch", 1, 1), row("A", "Đất đai", 4, 9)])
    assert [g.agency_code for g in merged] == ["A", "B"]
    a, b = merged
    assert a.overdue_count == 6 and a.oldest_due_at == NOW - timedelta(hours=9)
    assert a.sector is None and a.sector_counts == (("Đất đai", 4), ("Tư pháp", 2))  # most first
    assert a.sample_codes[:4] == ("A-Đất đai-0", "A-Đất đai-1", "A-Đất đai-2", "A-Đất đai-3")  # oldest row first
    assert b.sector == "Hộ tịch" and b.sector_counts == (("Hộ tịch", 1),)


def test_dossiers_without_an_agency_group_by_commune() -> None:
    merged = by_agency([
        row(None, "Tư pháp", 1, 2, commune="00004"), row(None, "Hộ tịch", 1, 3, commune="00004"),
        row(None, "Tư pháp", 1, 2, commune="00070"),
    ])  # fmt: skip
    assert sorted((g.commune_code, g.overdue_count) for g in merged) == [("00004", 2), ("00070", 1)]


def test_a_sectorless_row_keeps_the_agency_without_a_sector_label_but_is_counted() -> None:
    (g,) = by_agency([row("A", "Tư pháp", 2, 5), row("A", None, 3, 4)])
    assert g.overdue_count == 5 and g.sector is None and g.sector_counts == (("Tư pháp", 2),)


def test_the_sample_is_capped() -> None:
    (g,) = by_agency([row("A", f"S{i}", 15, i) for i in range(3)])
    assert len(g.sample_codes) == MAX_SAMPLE_CODES and g.sample_codes[0] == "A-S2-0"


def test_due_soon_and_missing_apology_rows_merge_on_their_own_count_and_time() -> None:
    early, late = NOW - timedelta(hours=3), NOW - timedelta(hours=1)
    (due,) = by_agency([DueSoonGroup("01", "00004", "A", "A", "Ba Đình", 2, late, ("x",), "S1"),
                        DueSoonGroup("01", "00004", "A", "A", "Ba Đình", 5, early, ("y",), "S2")])  # fmt: skip
    assert (due.due_soon_count, due.earliest_due_at, due.sample_codes) == (7, early, ("y", "x"))
    assert due.sector_counts == (("S2", 5), ("S1", 2))
    (gone,) = by_agency([MissingApologyGroup("01", "00004", "A", "A", "Ba Đình", 2, late, ("x",), "S1"),
                         MissingApologyGroup("01", "00004", "A", "A", "Ba Đình", 1, early, ("y",), "S1")])  # fmt: skip
    assert (gone.count, gone.oldest_late_since, gone.sector) == (3, early, "S1")


# --------------------------------------------------------------------------- cardinality guard


def signals(n: int) -> list[Signal]:
    groups = by_agency(row(f"UBND-{i:05d}", "Tư pháp", 1, 2, commune=f"{i:05d}") for i in range(n))
    return overdue_signals(OverdueRule(), groups)


def opened(s: Signal, alert_id: int) -> OpenAlert:
    return OpenAlert(alert_id, s.rule_id, s.fingerprint, s.labels, s.severity, AlertState.FIRING, s.value,
                     NOW, NOW, 1, s.summary_vi, s.summary_en)  # fmt: skip


def test_within_the_limit_the_signals_pass_unchanged() -> None:
    found = signals(5)
    guarded = guard_cardinality("overdue", found, [], limit=5)
    assert not guarded.tripped and guarded.signals == tuple(found) and guarded.would_open == 5


def test_above_the_limit_one_summary_alert_opens_and_open_series_carry_on() -> None:
    found = signals(8)
    already = [opened(found[0], 1), opened(found[1], 2)]
    guarded = guard_cardinality("overdue", found, already, limit=5)
    assert guarded.tripped and guarded.would_open == 6
    *kept, summary = guarded.signals
    assert kept == found[:2]
    assert summary.labels["guard"] == "too_many_series" and summary.severity is Severity.WARNING
    assert "agency_code" not in summary.labels and "commune_code" not in summary.labels
    assert summary.value == 6 and summary.details["would_open"] == 6 and summary.details["limit"] == 5
    assert "quá nhiều cảnh báo" in summary.summary_vi and "too many series" in summary.summary_en
    result = evaluate(NOW, "overdue", Policy(), guarded.signals, already)
    # Exactly one new alert (the summary); the two open series stay open (no transition for them).
    assert [t.signal.fingerprint for t in result.transitions if t.signal] == [summary.fingerprint]


def test_the_summary_resolves_once_a_round_fits_the_limit_again() -> None:
    found = signals(8)
    (summary,) = guard_cardinality("overdue", found, [], limit=5).signals
    open_summary = opened(summary, 9)
    calmer = found[:4]
    guarded = guard_cardinality("overdue", calmer, [open_summary], limit=5)
    assert not guarded.tripped
    result = evaluate(NOW, "overdue", Policy(), guarded.signals, [open_summary])
    states = sorted((t.to_state.value, t.alert_id) for t in result.transitions)
    assert states == [("firing", None)] * 4 + [("resolved", 9)]


def test_the_summary_keeps_the_rule_labels_used_for_routing() -> None:
    found = decorate(signals(3), stream="dossier", labels=(("kind", "overdue"), ("team", "mot_cua")))
    (summary,) = guard_cardinality("overdue", found, [], limit=2).signals
    assert {k: summary.labels[k] for k in ("kind", "stream", "team")} == {
        "kind": "overdue",
        "stream": "dossier",
        "team": "mot_cua",
    }


def test_a_vietnamese_count_in_the_summary_uses_dots() -> None:
    (summary,) = guard_cardinality("overdue", signals(1_200), [], limit=1_000).signals
    assert "1.200 chuỗi mới" in summary.summary_vi and "giới hạn 1.000" in summary.summary_vi
    assert "1,200 new" in summary.summary_en


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(EngineInputError):
        guard_cardinality("overdue", [], [], limit=0)


# --------------------------------------------------------------------------- bounded NOTIFY


def test_fifty_thousand_ids_go_in_payloads_under_the_limit_all_in_order() -> None:
    ids = list(range(10_000_000, 10_050_000))
    payloads = chunk_payloads("alert", "ids", ids)
    assert len(payloads) > 1
    assert all(len(p.encode()) <= NOTIFY_BUDGET_BYTES < NOTIFY_MAX_BYTES for p in payloads)
    decoded = [orjson.loads(p) for p in payloads]
    assert all(set(d) == {"stream", "ids"} and d["stream"] == "alert" for d in decoded)
    assert [i for d in decoded for i in d["ids"]] == ids
    # Chunks are filled, not cut short: all but the last hold as many ids as the budget allows.
    assert all(len(p.encode()) > NOTIFY_BUDGET_BYTES - 10 for p in payloads[:-1])


def test_a_small_list_is_one_payload_in_the_unchanged_format() -> None:
    provinces = [f"{i:02d}" for i in range(1, 35)]  # every province: the ingest writers' longest list
    (payload,) = chunk_payloads("dossier", "provinces", provinces)
    assert payload == orjson.dumps({"stream": "dossier", "provinces": provinces}).decode()
    assert chunk_payloads("alert", "ids", []) == []


def test_the_budget_counts_bytes_not_characters() -> None:
    names = ["Đặc khu Hoàng Sa"] * 2_000  # multi-byte UTF-8
    payloads = chunk_payloads("alert", "names", names, budget=1_000)
    assert (
        all(len(p.encode()) <= 1_000 for p in payloads)
        and sum(len(orjson.loads(p)["names"]) for p in payloads) == 2_000
    )


def test_a_value_larger_than_the_budget_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        chunk_payloads("alert", "names", ["x" * 200], budget=100)
