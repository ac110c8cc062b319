"""Status by locality under a scope: counts over in-scope rows only, localities the scope touches.

Seven dossiers, written through the real writer, with hand-computed expectations. Office hours
08:00–17:00; NOW is Monday 16/11/2026 10:00, the due-soon horizon Tuesday 17/11 17:00.

    dossier  commune   agency  sector   life                                     counts as
    D1       00004 C1  A1      Hộ tịch  Mon 9/11 09:00, resolved Mon 15:00       resolved early
    D2       00004 C1  A2      Đất đai  Mon 9/11 09:00 (5 days: due Mon 16/11)   open, overdue, owes apology
    D3       00097 C2  A1      Hộ tịch  Thu 12/11 09:00, resolved Fri 16:00      resolved late, owes apology
    D4       00097 C2  A2      Đất đai  Fri 13/11 10:00 (due Fri 20/11)          open
    D5       00097 C2  A2      Hộ tịch  Mon 16/11 08:30 (due Tue 08:30)          open, due soon
    D7       00004 C1  —       Đất đai  Tue 10/11 09:00 (due Tue 17/11 09:00)    open, due soon
    D6       25747     A3      Hộ tịch  Mon 9/11 09:00 in province 79           open, overdue, owes apology

C1 and C2 are communes of Hà Nội (01); 25747 is in TP Hồ Chí Minh (79).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg import AsyncConnection

from ioc.auth.scope import Scope
from ioc.db.embedded import EmbeddedPostgres
from ioc.localities.catalogue import load_catalogue
from ioc.sources import register_source
from ioc.status import LocalityStatus, commune_status, province_status
from tests.conftest import fresh_database
from tests.integration.ingest_support import event, receipt
from tests.integration.writer_support import SOURCE_ID, write_batch

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=VN)
SOON = datetime(2026, 11, 17, 17, 0, tzinfo=VN)

HO_TICH = {"code": "1.000001", "name": "Đăng ký khai sinh", "sector": "Hộ tịch", "statutory_days": 1}
DAT_DAI = {"code": "1.004227", "name": "Đăng ký đất đai", "sector": "Đất đai", "statutory_days": 5}
A1 = {"code": "UBND-00004", "name": "UBND Phường Ba Đình"}
A2 = {"code": "SNNMT-01", "name": "Sở Nông nghiệp và Môi trường Hà Nội"}
A3 = {"code": "UBND-25747", "name": "UBND Phường Thủ Dầu Một"}
C1, C2, C79 = "00004", "00097", "25747"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=VN)


def dossier(code: str, commune: str, agency: dict[str, str] | None, procedure: dict[str, Any], t: datetime,
            channel: str = "online") -> dict[str, Any]:  # fmt: skip
    return receipt(f"{code}-r", code, t, locality={"commune_code": commune}, agency=agency, procedure=procedure,
                   channel=channel)  # fmt: skip


EVENTS = [
    dossier("D1", C1, A1, HO_TICH, at(9, 9)),
    event("D1-x", "D1", "resolved", at(9, 15), locality={"commune_code": C1}, agency=A1),
    dossier("D2", C1, A2, DAT_DAI, at(9, 9), channel="direct"),
    dossier("D3", C2, A1, HO_TICH, at(12, 9)),
    event("D3-x", "D3", "resolved", at(13, 16), locality={"commune_code": C2}, agency=A1),
    dossier("D4", C2, A2, DAT_DAI, at(13, 10)),
    dossier("D5", C2, A2, HO_TICH, at(16, 8, 30), channel="direct"),
    dossier("D7", C1, None, DAT_DAI, at(10, 9), channel="direct"),
    dossier("D6", C79, A3, HO_TICH, at(9, 9)),
]

# (received, resolved, resolved on time, open, overdue, due soon, late without apology)
Counts = tuple[int, int, int, int, int, int, int]
ZERO: Counts = (0, 0, 0, 0, 0, 0, 0)
D: dict[str, Counts] = {
    "D1": (1, 1, 1, 0, 0, 0, 0),
    "D2": (1, 0, 0, 1, 1, 0, 1),
    "D3": (1, 1, 0, 0, 0, 0, 1),
    "D4": (1, 0, 0, 1, 0, 0, 0),
    "D5": (1, 0, 0, 1, 0, 1, 0),
    "D7": (1, 0, 0, 1, 0, 1, 0),
    "D6": (1, 0, 0, 1, 1, 0, 1),
}


def total(*dossiers: str) -> Counts:
    out = [0] * 7
    for code in dossiers:
        for i, n in enumerate(D[code]):
            out[i] += n
    return (out[0], out[1], out[2], out[3], out[4], out[5], out[6])


def counts(s: LocalityStatus) -> Counts:
    return (s.received, s.resolved, s.resolved_on_time, s.open, s.overdue, s.due_soon, s.late_without_apology)


@pytest.fixture(scope="module")
def status_db(pg_server: EmbeddedPostgres) -> Iterator[str]:
    url = fresh_database(pg_server)
    register_source(url, SOURCE_ID, "Nguồn thử nghiệm")
    asyncio.run(write_batch(url, EVENTS, NOW))
    yield url


ALL_PROVINCES = sorted(p.code for p in load_catalogue().provinces)
HANOI_COMMUNES = sorted(c.code for c in load_catalogue().communes if c.province_code == "01")

# scope, provinces listed, {province: counts}, communes of 01 listed, {commune of 01: counts}
CASES: list[tuple[str, Scope, list[str], dict[str, Counts], list[str], dict[str, Counts]]] = [
    (
        "national", Scope.everything(),
        ALL_PROVINCES, {"01": total("D1", "D2", "D3", "D4", "D5", "D7"), "79": total("D6")},
        HANOI_COMMUNES, {C1: total("D1", "D2", "D7"), C2: total("D3", "D4", "D5")},
    ),
    (
        "one province", Scope(provinces=frozenset({"01"})),
        ["01"], {"01": total("D1", "D2", "D3", "D4", "D5", "D7")},
        HANOI_COMMUNES, {C1: total("D1", "D2", "D7"), C2: total("D3", "D4", "D5")},
    ),
    (
        "one commune", Scope(communes=frozenset({C1})),
        ["01"], {"01": total("D1", "D2", "D7")},
        [C1], {C1: total("D1", "D2", "D7")},
    ),
    (
        "province and sector", Scope(provinces=frozenset({"01"}), sectors=frozenset({"Hộ tịch"})),
        ["01"], {"01": total("D1", "D3", "D5")},
        HANOI_COMMUNES, {C1: total("D1"), C2: total("D3", "D5")},
    ),
    (
        # D7 has no agency: outside any scope that names agencies.
        "province and agency", Scope(provinces=frozenset({"01"}), agencies=frozenset({A2["code"]})),
        ["01"], {"01": total("D2", "D4", "D5")},
        HANOI_COMMUNES, {C1: total("D2"), C2: total("D4", "D5")},
    ),
    (
        "national sector", Scope(national=True, sectors=frozenset({"Đất đai"})),
        ALL_PROVINCES, {"01": total("D2", "D4", "D7")},
        HANOI_COMMUNES, {C1: total("D2", "D7"), C2: total("D4")},
    ),
    (
        # A granted commune brings its province into the list, counted over that commune only.
        "a province and a commune elsewhere", Scope(provinces=frozenset({"79"}), communes=frozenset({C2})),
        ["01", "79"], {"01": total("D3", "D4", "D5"), "79": total("D6")},
        [C2], {C2: total("D3", "D4", "D5")},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("scope", "provinces", "by_province", "communes", "by_commune"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_status_under_a_scope(
    status_db: str,
    scope: Scope,
    provinces: list[str],
    by_province: dict[str, Counts],
    communes: list[str],
    by_commune: dict[str, Counts],
) -> None:
    async with await AsyncConnection.connect(status_db) as conn:
        province_rows = await province_status(conn, NOW, SOON, "30d", scope=scope)
        commune_rows = await commune_status(conn, NOW, SOON, "01", "30d", scope=scope)
    assert [s.code for s in province_rows] == provinces
    assert {s.code: counts(s) for s in province_rows} == {code: by_province.get(code, ZERO) for code in provinces}
    assert [s.code for s in commune_rows] == communes
    assert {s.code: counts(s) for s in commune_rows} == {code: by_commune.get(code, ZERO) for code in communes}


async def test_unrestricted_scope_is_the_default(status_db: str) -> None:
    async with await AsyncConnection.connect(status_db) as conn:
        default = await province_status(conn, NOW, SOON, "30d")
        explicit = await province_status(conn, NOW, SOON, "30d", scope=Scope.everything())
        # The same scope spelled so that it takes the filtered query: it must agree.
        filtered = await province_status(conn, NOW, SOON, "30d", scope=Scope(national=True, sectors=frozenset(
            {"Hộ tịch", "Đất đai"})))  # fmt: skip
        communes = await commune_status(conn, NOW, SOON, "01", "30d")
    assert default == explicit == filtered
    assert {s.code: counts(s) for s in communes if s.code in (C1, C2)} == {
        C1: total("D1", "D2", "D7"),
        C2: total("D3", "D4", "D5"),
    }


async def test_codes_and_scope_combine(status_db: str) -> None:
    scope = Scope(provinces=frozenset({"79"}), communes=frozenset({C2}))
    async with await AsyncConnection.connect(status_db) as conn:
        rows = await province_status(conn, NOW, SOON, "30d", codes=["79", "48"], scope=scope)
        outside = await commune_status(conn, NOW, SOON, "48", "30d", scope=scope)
    assert [(s.code, counts(s)) for s in rows] == [("79", total("D6"))]
    assert outside == []  # a province the scope does not touch lists no commune


async def test_window_limits_the_flows_not_the_current_counts(status_db: str) -> None:
    scope = Scope(provinces=frozenset({"01"}), sectors=frozenset({"Hộ tịch"}))
    async with await AsyncConnection.connect(status_db) as conn:
        (today,) = await province_status(conn, NOW, SOON, "today", scope=scope)
    # Today only D5 was received and nothing resolved; open, overdue and owing are current counts.
    assert counts(today) == (1, 0, 0, 1, 0, 1, 1)
