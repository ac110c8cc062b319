"""The set-based refresh sums cells into exactly the rows the per-scope SQL reads (ioc/live/cells.py).

Dossiers and rollup rows of several provinces, communes, agencies and sectors are written
directly; then for each scope the rows derived from one read of the cells must equal
`province_status` / `commune_status` and the `dossier` headline read with that scope in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.rules import due_soon_horizon
from ingest.reference import CalendarStore
from ioc.auth.scope import Scope
from ioc.live.cells import Localities, derive_rows, group_cells, read_cells, received_today
from ioc.live.headline import read_headline
from ioc.localities.catalogue import load_catalogue
from ioc.status import commune_status, province_status

BA_DINH, NGOC_HA, THU_DAU_MOT = "00004", "00008", "25747"

SCOPES = [
    Scope.everything(),
    Scope.from_dict({"national": True, "sectors": ["Tư pháp"]}),
    Scope.from_dict({"national": True, "agencies": ["UBND-A"]}),
    Scope.from_dict({"provinces": ["01"]}),
    Scope.from_dict({"provinces": ["79"], "sectors": ["Đất đai"]}),
    Scope.from_dict({"communes": [BA_DINH]}),
    Scope.from_dict({"communes": [BA_DINH, THU_DAU_MOT], "agencies": ["UBND-A", "UBND-B"]}),
    Scope.from_dict({"provinces": ["79"], "communes": [NGOC_HA]}),
]

# (province, commune, agency, sector): every combination the scopes above cut differently.
PLACES = [
    ("01", BA_DINH, "UBND-A", "Tư pháp"),
    ("01", BA_DINH, "UBND-B", "Đất đai"),
    ("01", NGOC_HA, "UBND-A", "Đất đai"),
    ("01", None, None, "Tư pháp"),
    ("79", THU_DAU_MOT, "UBND-A", "Tư pháp"),
    ("79", THU_DAU_MOT, None, "Đất đai"),
    ("48", "20194", "UBND-C", "Tư pháp"),
]


async def seed(conn: psycopg.AsyncConnection[tuple[object, ...]], now: datetime) -> None:
    n = 0
    for i, (province, commune, agency, sector) in enumerate(PLACES):
        for j in range(i + 2):
            n += 1
            due = now + timedelta(hours=(j - 2) * 30)  # some overdue, some due soon, some later
            closed = now if j % 4 == 3 else None
            late = now - timedelta(days=1) if j % 3 == 0 else None
            apology = now if j % 5 == 4 else None
            await conn.execute(
                "INSERT INTO dossier (code, source_id, procedure_code, sector, statutory_days, agency_code,"
                " province_code, commune_code, channel, status, received_at, due_at, closed_at, late_since,"
                " apology_at, last_event_at) VALUES (%s, 'test', 'P', %s, 5, %s, %s, %s, 'online', 'received',"
                " %s, %s, %s, %s, %s, %s)",
                [f"HS-{n}", sector, agency, province, commune, now - timedelta(days=3),
                 due, closed, late, apology, now],
            )  # fmt: skip
        for days_ago in (0, 3, 40):
            await conn.execute(
                "INSERT INTO dossier_daily (day, province_code, commune_code, agency_code, sector, received,"
                " resolved, resolved_early, resolved_on_time, resolved_late)"
                " VALUES ((%s AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, %s, %s, %s, %s, %s, %s, 1, %s, 0)",
                [now - timedelta(days=days_ago), province, commune or "", agency or "", sector,
                 i + days_ago + 1, i + 2, i % 2],
            )  # fmt: skip


@pytest.mark.parametrize("window", ["30d", "today"])
async def test_rows_summed_from_cells_equal_the_scoped_status_queries(db_url: str, window: str) -> None:
    now = datetime.now(UTC)
    soon = due_soon_horizon(now, CalendarStore().calendar_for(""))
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await seed(conn, now)
        await conn.commit()
        localities = Localities.of(load_catalogue())  # as the feed holds them
        cells = group_cells(await read_cells(conn, now, soon, window, None), localities.provinces)
        assert sum(len(p.cells) for p in cells.values()) >= len(PLACES)
        for scope in SCOPES:
            touched = sorted(localities.provinces) if scope.national else sorted(
                {"01" if code in (BA_DINH, NGOC_HA) else "79" for code in scope.communes} | scope.provinces
            )  # fmt: skip
            expected = {f"province:{p.code}": p.as_dict()
                        for p in await province_status(conn, now, soon, window, None, scope)}  # fmt: skip
            if not scope.national:
                for code in touched:
                    for c in await commune_status(conn, now, soon, code, window, scope):
                        expected[f"commune:{c.code}"] = c.as_dict()
            derived = derive_rows(scope, touched, cells, localities, with_communes=not scope.national)
            assert derived == expected, scope.key
            assert any(row["open"] or row["received"] for row in derived.values()), scope.key  # not all zeros
            headline = await read_headline(conn, scope, now, ["dossier"])
            assert received_today(scope, touched, cells) == headline["dossier"]["received_today"], scope.key


async def test_a_partial_read_gives_the_changed_provinces_their_rows_even_without_dossiers(db_url: str) -> None:
    now = datetime.now(UTC)
    soon = now + timedelta(days=1)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await seed(conn, now)
        await conn.commit()
        localities = Localities.of(load_catalogue())  # as the feed holds them
        cells = group_cells(await read_cells(conn, now, soon, "30d", ["01", "04"]), ["01", "04"])
    assert set(cells) == {"01", "04"}  # 04 has no dossier: a zero row, not a missing one
    assert cells["04"].cells == () and cells["01"].total[4] > 0
    rows = derive_rows(Scope.everything(), ["04"], cells, localities, with_communes=False)
    assert rows["province:04"]["open"] == 0 and rows["province:04"]["name"]
