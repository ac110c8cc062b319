"""The pure core of the set-based live refresh: cells summed per scope, and alert counts and pages."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ioc.auth.scope import Scope
from ioc.live.alert_index import AlertIndex, counts_for, first_page, fold_counts
from ioc.live.cells import (
    Cell,
    Localities,
    derive_rows,
    group_cells,
    province_counts,
    received_today,
    row_payload,
    status_row,
)


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    short_name: str
    province_code: str


HN = Place("01", "Thành phố Hà Nội", "Hà Nội", "01")
BA_DINH = Place("00004", "Phường Ba Đình", "Ba Đình", "01")
NGOC_HA = Place("00008", "Phường Ngọc Hà", "Ngọc Hà", "01")
LOCALITIES = Localities({"01": HN}, {"01": [BA_DINH, NGOC_HA]}, {"00004": BA_DINH, "00008": NGOC_HA})


def counts(received: int, open_: int) -> tuple[int, int, int, int, int, int, int, int]:
    # received, resolved, on time, received today, open, overdue, due soon, owing
    return (received, 2, 1, 1, open_, 1, 0, 1)


CELLS = [
    Cell("01", "00004", "UBND-A", "Tư pháp", counts(10, 3)),
    Cell("01", "00004", "UBND-B", "Đất đai", counts(20, 5)),
    Cell("01", "00008", "UBND-A", "Đất đai", counts(40, 7)),
    Cell("01", "", None, "Tư pháp", counts(80, 11)),  # counted at province level only
]
GROUPED = group_cells(CELLS, ["01"])


@pytest.mark.parametrize(
    ("scope", "received", "open_"),
    [
        (Scope.everything(), 150, 26),
        (Scope.from_dict({"provinces": ["01"]}), 150, 26),
        (Scope.from_dict({"provinces": ["01"], "sectors": ["Tư pháp"]}), 90, 14),
        (Scope.from_dict({"national": True, "agencies": ["UBND-A"]}), 50, 10),
        (Scope.from_dict({"communes": ["00004"]}), 30, 8),
        (Scope.from_dict({"communes": ["00004", "00008"], "sectors": ["Đất đai"]}), 60, 12),
        (Scope.from_dict({"communes": ["99999"]}), 0, 0),
    ],
)
def test_a_province_row_counts_exactly_the_cells_the_scope_allows(scope: Scope, received: int, open_: int) -> None:
    total = province_counts(scope, GROUPED["01"])
    assert (total[0], total[4]) == (received, open_)


def test_a_commune_screen_lists_its_own_commune_and_the_province_row_over_it() -> None:
    rows = derive_rows(Scope.from_dict({"communes": ["00004"]}), ["01"], GROUPED, LOCALITIES, with_communes=True)
    assert set(rows) == {"province:01", "commune:00004"}
    assert rows["commune:00004"]["received"] == rows["province:01"]["received"] == 30
    assert rows["commune:00004"]["name"] == "Phường Ba Đình"


def test_a_province_screen_lists_every_commune_even_one_without_dossiers() -> None:
    grouped = group_cells(CELLS[:2], ["01"])
    rows = derive_rows(Scope.from_dict({"provinces": ["01"]}), ["01"], grouped, LOCALITIES, with_communes=True)
    assert set(rows) == {"province:01", "commune:00004", "commune:00008"}
    assert rows["commune:00008"]["open"] == 0 and rows["commune:00008"]["on_time_rate"] is None


def test_a_row_payload_is_the_status_rows_dict_key_for_key_in_order() -> None:
    # Views remember what they published by its JSON: the order matters as much as the values.
    for place, cell_counts in ((HN, counts(7, 3)), (BA_DINH, (0, 0, 0, 0, 0, 0, 0, 0))):
        expected = status_row(place, cell_counts).as_dict()
        assert list(row_payload(place, cell_counts).items()) == list(expected.items())


def test_received_today_sums_the_scopes_cells_of_the_day() -> None:
    assert received_today(Scope.everything(), ["01"], GROUPED) == 4
    assert received_today(Scope.from_dict({"communes": ["00008"]}), ["01"], GROUPED) == 1


def alert(alert_id: int, state: str, severity: str, commune: str, at: str, **extra: object) -> dict[str, object]:
    return {
        "id": alert_id, "state": state, "severity": severity, "province_code": "01", "commune_code": commune,
        "agency_code": f"UBND-{commune}", "sector_code": "tu_phap", "fired_at": at, "active_since": at,
        "resolved_at": None, **extra,
    }  # fmt: skip


def test_the_alert_index_tells_what_changed_and_counts_per_scope() -> None:
    index = AlertIndex()
    first = alert(1, "firing", "critical", "00004", "2026-12-01T01:00:00+00:00")
    assert index.update(first) is True  # new
    assert index.update(dict(first)) is False  # read again, unchanged
    assert index.update({**first, "acknowledged_by": "truc-ban"}) is True  # somebody acted on it
    index.update(alert(2, "pending", "warning", "00008", "2026-12-01T02:00:00+00:00"))
    commune = Scope.from_dict({"communes": ["00004"]})
    mine = counts_for(commune, index.facts_in(frozenset({"01"})), with_communes=True)
    assert (mine["firing"], mine["pending"], set(mine["by_commune"])) == (1, 0, {"00004"})
    everyone = counts_for(Scope.everything(), index.facts_in(None), with_communes=False)
    assert everyone["by_province"] == {"01": {"firing": 1, "pending": 1}} and "by_commune" not in everyone
    assert index.update(alert(2, "resolved", "warning", "00008", "2026-12-01T02:00:00+00:00")) is True
    assert len(index) == 1 and index.forget_missing({5}) == [1] and len(index) == 0


def test_counts_from_the_index_equal_counts_folded_from_sql_rows() -> None:
    rows = [("critical", "firing", "01", "00004", 2), ("warning", "pending", "01", "00008", 1)]
    folded = fold_counts(rows, with_communes=True)
    index = AlertIndex()
    for i, (severity, state, _, commune, n) in enumerate(rows):
        for j in range(n):
            index.update(alert(10 * i + j, state, severity, commune, "2026-12-01T00:00:00+00:00"))
    assert counts_for(Scope.everything(), index.facts_in(None), with_communes=True) == folded


def test_the_first_page_is_the_dashboards_queue_order() -> None:
    queue = [
        alert(1, "resolved", "critical", "00004", "2026-12-01T05:00:00+00:00", resolved_at="2026-12-01T06:00:00+00:00"),
        alert(2, "pending", "critical", "00004", "2026-12-01T04:00:00+00:00"),
        alert(3, "firing", "warning", "00004", "2026-12-01T03:00:00+00:00"),
        alert(4, "firing", "critical", "00004", "2026-12-01T01:00:00+00:00"),
        alert(5, "firing", "critical", "00004", "2026-12-01T02:00:00+00:00"),
    ]
    assert [a["id"] for a in first_page(queue, page=4)] == [5, 4, 3, 2]
