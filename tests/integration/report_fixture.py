"""A small, hand-computed month of dossiers for the report tests: Hà Nội, September 2026.

Every dossier uses a 3-working-day procedure received at 09:00, so its deadline is 09:00 three
working days later (no holiday falls in 14–28/9/2026): received Monday 14/9 → due Thursday 17/9;
Monday 21/9 → Thursday 24/9; Tuesday 22/9 → Friday 25/9; Monday 28/9 → Thursday 1/10.
Resolved the day before the due day: early; on the due day before 09:00: on time; after: late.

  agency                               dossier  received  resolved / state         official    apology
  UBND Phường Ba Đình (commune 00004)  BD-1     14/9      16/9 10:00  early       CB-01
                                       BD-2     14/9      17/9 08:30  on time     CB-01
                                       BD-3     14/9      18/9 10:00  late        CB-01       19/9
                                       BD-4     14/9      21/9 10:00  late        CB-02       none
                                       BD-5     21/9      open, due 24/9: overdue CB-02       none
                                       BD-0     17/8      24/8 late (August: not this month)
  Công an Phường Ba Đình (00004)       CA-1     14/9      16/9 10:00  early       —
  Sở Tư pháp (province level)          TP-1     14/9      16/9 10:00  early       —
                                       TP-2     14/9      18/9 10:00  late        —           none
                                       TP-3     22/9      5/10 late: overdue on 30/9 CB-03    6/10 (after the month)
                                       TP-4     28/9      2/10 late (due 1/10: neither late nor overdue in September)
  UBND Phường Thủ Dầu Một (HCMC, 79)   HC-1     14/9      21/9 late (another province)

Expected for Hà Nội, September 2026:
  UBND Phường Ba Đình: resolved 4 (BD-1..4), on time 2 (early BD-1 + on time BD-2), late 2
      (BD-3, BD-4), on-time rate 2/4 = 50,0%, overdue 1 (BD-5), late without apology 2 (BD-4, BD-5)
  Sở Tư pháp: resolved 2 (TP-1, TP-2), on time 1, late 1, rate 1/2 = 50,0%, overdue 1 (TP-3),
      without apology 2 (TP-2; TP-3, whose letter came after the month)
  Công an Phường Ba Đình: resolved 1, on time 1, nothing late: not listed, but in the totals
  totals: resolved 4 + 2 + 1 = 7, on time 2 + 1 + 1 = 4, late 3, rate 4/7 = 57,1%, overdue 2,
      without apology 4
  officials: CB-02 late 1 + overdue 1 (without apology 2); CB-03 overdue 1 (without apology 1);
      CB-01 late 1 (apologised: 0); unnamed at Sở Tư pháp: late 1 (TP-2, without apology 1)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from ioc.sources import register_source
from tests.integration.writer_support import SOURCE_ID, write_batch

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SEPTEMBER = date(2026, 9, 1)
# When the fixture is written: after every event in it, well within the retention period.
WRITTEN_AT = datetime(2026, 10, 10, tzinfo=UTC)
# The moment the month's reports are made by the schedule: 00:30 on 1/10/2026, local time.
FIRST_OF_OCTOBER = datetime(2026, 10, 1, 0, 30, tzinfo=VN)

PROCEDURE = {"code": "RP.0003", "name": "Chứng thực bản sao từ bản chính", "sector": "Chứng thực",
             "statutory_days": 3}  # fmt: skip
BA_DINH = {"commune_code": "00004"}
HANOI = {"province_code": "01"}
THU_DAU_MOT = {"commune_code": "25747"}
UBND_BA_DINH = {"code": "UBND-00004", "name": "UBND Phường Ba Đình"}
CONG_AN_BA_DINH = {"code": "CA-00004", "name": "Công an Phường Ba Đình"}
SO_TU_PHAP = {"code": "STP-01", "name": "Sở Tư pháp Thành phố Hà Nội"}
UBND_THU_DAU_MOT = {"code": "UBND-25747", "name": "UBND Phường Thủ Dầu Một"}
LAN = {"code": "CB-01", "name": "Nguyễn Thị Lan"}
DUC = {"code": "CB-02", "name": "Trần Văn Đức"}
NHUNG = {"code": "CB-03", "name": "Lê Thị Hồng Nhung"}


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> str:
    return datetime(2026, month, day, hour, minute, tzinfo=VN).isoformat()


Place = tuple[dict[str, str], dict[str, str]]  # (agency, locality)


def _dossier(
    code: str,
    received: str,
    place: Place,
    *,
    resolved: str | None = None,
    apology: str | None = None,
    handler: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    agency, locality = place
    base: dict[str, Any] = {"dossier_code": code, "locality": locality, "agency": agency}
    if handler is not None:
        base["handler"] = handler
    events = [{**base, "event_id": f"{code}-r", "event_type": "received", "occurred_at": received,
               "procedure": PROCEDURE, "channel": "online"}]  # fmt: skip
    if resolved is not None:
        events.append({**base, "event_id": f"{code}-s", "event_type": "resolved", "occurred_at": resolved})
    if apology is not None:
        events.append({**base, "event_id": f"{code}-a", "event_type": "apology_issued", "occurred_at": apology})
    return events


def fixture_events() -> list[dict[str, Any]]:
    bd: Place = (UBND_BA_DINH, BA_DINH)
    tp: Place = (SO_TU_PHAP, HANOI)
    return [
        *_dossier("BD-1", at(9, 14), bd, resolved=at(9, 16, 10), handler=LAN),
        *_dossier("BD-2", at(9, 14), bd, resolved=at(9, 17, 8, 30), handler=LAN),
        *_dossier("BD-3", at(9, 14), bd, resolved=at(9, 18, 10), apology=at(9, 19), handler=LAN),
        *_dossier("BD-4", at(9, 14), bd, resolved=at(9, 21, 10), handler=DUC),
        *_dossier("BD-5", at(9, 21), bd, handler=DUC),
        *_dossier("BD-0", at(8, 17), bd, resolved=at(8, 24, 10), handler=DUC),
        *_dossier("CA-1", at(9, 14), (CONG_AN_BA_DINH, BA_DINH), resolved=at(9, 16, 10)),
        *_dossier("TP-1", at(9, 14), tp, resolved=at(9, 16, 10)),
        *_dossier("TP-2", at(9, 14), tp, resolved=at(9, 18, 10)),
        *_dossier("TP-3", at(9, 22), tp, resolved=at(10, 5, 10), apology=at(10, 6), handler=NHUNG),
        *_dossier("TP-4", at(9, 28), tp, resolved=at(10, 2, 10)),
        *_dossier("HC-1", at(9, 14), (UBND_THU_DAU_MOT, THU_DAU_MOT), resolved=at(9, 21, 10)),
    ]


async def write_fixture(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        known = conn.execute("SELECT 1 FROM source WHERE id = %s", [SOURCE_ID]).fetchone()
    if known is None:  # a live server's database has it already (with a key the server's tests use)
        register_source(db_url, SOURCE_ID, "Nguồn thử nghiệm")
    await write_batch(db_url, fixture_events(), WRITTEN_AT)
