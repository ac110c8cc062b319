"""Report files as departments make them (Vietnamese headers, day-first dates, dotted thousands),
written in the test with csv and openpyxl; and probes of what an import stored."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import psycopg

VN = ZoneInfo("Asia/Ho_Chi_Minh")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PAYOUT_HEADERS = ["Mã xã", "Tên xã", "Chương trình", "Kỳ chi trả", "Hạn chi trả", "Số đối tượng", "Đã chi trả",
                  "Qua tài khoản", "Qua thẻ", "Ví điện tử", "Tiền mặt", "Không chi trả được", "Số tiền",
                  "Số tiền đã chi"]  # fmt: skip
ID_HEADERS = ["Ngày", "Mã xã", "Tên xã", "Số hồ sơ CCCD tiếp nhận", "Số thẻ CCCD đã cấp", "Dân số đủ điều kiện",
              "Lũy kế thẻ CCCD đã cấp", "Hồ sơ mức 2 tiếp nhận", "Hồ sơ mức 2 đã duyệt", "Tài khoản mức 2 kích hoạt",
              "Lũy kế kích hoạt mức 2"]  # fmt: skip


def this_cycle() -> date:
    today = datetime.now(VN).date()
    return date(today.year, today.month, 1)


def cycle_text(cycle: date) -> str:
    return f"{cycle.month:02d}/{cycle.year}"


def deadline_text(cycle: date) -> str:
    last = (cycle.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return last.strftime("%d/%m/%Y")


def payout_row(commune: str, name: str, programme: str = "Người có công", *, due: int = 1200, bank: int = 600,
               card: int = 100, ewallet: int = 50, cash: int = 250, failed: int = 5,
               amount_due: int = 1_416_000_000, amount_paid: int = 1_180_000_000) -> list[Any]:  # fmt: skip
    cycle = this_cycle()
    paid = bank + card + ewallet + cash
    return [commune, name, programme, cycle_text(cycle), deadline_text(cycle), due, paid, bank, card, ewallet, cash,
            failed, amount_due, amount_paid]  # fmt: skip


def dotted(value: Any) -> Any:
    """A whole number as a Vietnamese spreadsheet writes it in text: 1.416.000.000."""
    return f"{value:,}".replace(",", ".") if isinstance(value, int) else value


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], *, encoding: str = "utf-8-sig",
              delimiter: str = ",", title: str | None = None) -> bytes:  # fmt: skip
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    if title:
        writer.writerow([title])
        writer.writerow([])
    writer.writerow(header)
    for row in rows:
        writer.writerow([dotted(v) for v in row])
    text = out.getvalue()
    return windows_1258(text) if encoding == "cp1258" else text.encode(encoding)


def windows_1258(text: str) -> bytes:
    """Text as Windows writes it in code page 1258: letters with a circumflex, breve or horn are
    single bytes, tone marks are combining bytes after them ("ầ" = "â" + combining grave)."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = list(unicodedata.normalize("NFD", char))
        # Keep a vowel's circumflex, breve or horn on the letter; the tone mark goes after it.
        for mark in marks:
            letter = unicodedata.normalize("NFC", base + mark)
            if len(letter) == 1 and letter.encode("cp1258", errors="ignore"):
                base = letter
                marks.remove(mark)
                break
        out += base.encode("cp1258") + "".join(marks).encode("cp1258")
    return bytes(out)


def xlsx_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Báo cáo"
    if title:
        sheet.append([title])
        sheet.append([])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def id_row(day: date, commune: str, name: str, *, received: int = 120, issued: int = 95, eligible: int = 54_000,
           issued_total: int = 52_575, l2_received: int = 310, l2_approved: int = 280, l2_activated: int = 150,
           l2_total: int = 9_300) -> list[Any]:  # fmt: skip
    return [datetime(day.year, day.month, day.day), commune, name, received, issued, eligible, issued_total,
            l2_received, l2_approved, l2_activated, l2_total]  # fmt: skip


def yesterday() -> date:
    return datetime.now(VN).date() - timedelta(days=1)


def fetch(db_url: str, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchall()


def payout_cycles(db_url: str) -> dict[str, tuple[Any, ...]]:
    rows = fetch(db_url, "SELECT commune_code, programme_code, beneficiaries_due, paid_total, paid_bank, paid_card,"
                         " paid_ewallet, paid_cash, failed, failure_reasons, amount_due_vnd, amount_paid_vnd"
                         " FROM payout_cycle ORDER BY commune_code")  # fmt: skip
    return {f"{r[0]}/{r[1]}": r[2:] for r in rows}


def counts(db_url: str) -> dict[str, int]:
    tables = ("payout_report", "payout_cycle", "payout_cycle_daily", "id_issuance_report", "id_issuance_daily")
    return {t: int(fetch(db_url, f"SELECT count(*) FROM {t}")[0][0]) for t in tables}
