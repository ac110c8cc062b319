"""File import's pure parts: header matching, cell values, reading CSV/XLSX, rows → items."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import pytest

from ingest.fileimport.headers import header_key
from ingest.fileimport.mapping import MappingError, apply_overrides, default_mapping, header_keys, parse_mapping_text
from ingest.fileimport.read import FileFormatError, decode_csv, read_table
from ingest.fileimport.rows import LayoutError, build_items, columns_for, find_layout, name_table, resolve_name
from ingest.fileimport.values import CellError, convert

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Mã xã", "ma xa"), ("MÃ XÃ", "ma xa"), ("  Ma   xa ", "ma xa"), ("Mã_xã:", "ma xa"), ("Mã xã (*)", "ma xa"),
        ("Số đối tượng", "so doi tuong"), ("ĐÃ CHI TRẢ", "da chi tra"),
        ("Lũy kế", "luy ke"), ("Luỹ kế", "luy ke"),  # new-style and old-style tone placement
        ("Ho\u0300a", "hoa"),  # a combining grave (decomposed text) like a precomposed one
    ],
)  # fmt: skip
def test_header_keys_ignore_case_spacing_punctuation_and_diacritics(header: str, key: str) -> None:
    assert header_key(header) == key


def test_a_neutral_unit_in_brackets_is_ignored_but_a_scaling_one_is_not() -> None:
    assert header_keys("Số tiền (VNĐ)") == ("so tien vnd", "so tien")
    assert header_keys("Số đối tượng (người)")[-1] == "so doi tuong"
    assert header_keys("Số tiền (triệu đồng)") == ("so tien trieu dong",)  # a million times more: no match


@pytest.mark.parametrize(
    ("cell", "kind", "expected"),
    [
        ("1.234.567", "int", 1234567), ("1,234,567", "int", 1234567), (" 12 345 ", "int", 12345), (42.0, "int", 42),
        ("", "int", None), (None, "int", None),
        ("31/10/2024", "date", "2024-10-31"), ("1/2/2024", "date", "2024-02-01"), ("2024-10-31", "date", "2024-10-31"),
        (datetime(2024, 10, 31, 0, 0), "date", "2024-10-31"),
        ("10/2024", "month", "2024-10"), ("T10/2024", "month", "2024-10"), ("Tháng 10/2024", "month", "2024-10"),
        ("tháng 10 năm 2024", "month", "2024-10"), ("2024-10", "month", "2024-10"), (date(2024, 10, 5), "month",
                                                                                      "2024-10"),
        (4, "code", "00004"), ("25747", "code", "25747"),
        ("  Người   có công ", "text", "Người có công"),
        ("22/11/2026", "moment", "2026-11-22T17:00:00+07:00"),  # a past day: its close of business
        ("23/11/2026", "moment", "2026-11-23T10:00:00+07:00"),  # today, before 17:00: now
        ("22/11/2026 08:30", "moment", "2026-11-22T08:30:00+07:00"),
    ],
)  # fmt: skip
def test_cells_convert_as_vietnamese_spreadsheets_write_them(cell: object, kind: str, expected: object) -> None:
    value = convert(cell, kind, 5 if kind == "code" else None, NOW)  # type: ignore[arg-type]
    if kind == "moment":  # the same instant, whatever offset it is written with
        assert datetime.fromisoformat(str(value)) == datetime.fromisoformat(str(expected))
    else:
        assert value == expected


@pytest.mark.parametrize(
    ("cell", "kind"),
    [("1,5", "int"), ("12.5", "int"), (12.5, "int"), ("mười", "int"), (True, "int"), ("31/02/2024", "date"),
     ("13/2024", "month"), ("hôm qua", "date")],
)  # fmt: skip
def test_cells_that_are_not_what_their_column_holds_are_refused_in_words(cell: object, kind: str) -> None:
    with pytest.raises(CellError, match=" / "):
        convert(cell, kind)  # type: ignore[arg-type]


def test_csv_encodings_bom_utf16_and_windows_1258() -> None:
    text = "Mã xã,Tên xã\n00004,Phường Ba Đình\n"
    assert decode_csv(text.encode("utf-8"))[1] == "utf-8"
    assert decode_csv(b"\xef\xbb\xbf" + text.encode("utf-8")) == (text, "utf-8-sig")
    assert decode_csv(text.encode("utf-16")) == (text, "utf-16")
    # Windows-1258: "Mã" is "M", "a", combining tilde (0xDE); read back as the precomposed "Mã".
    decoded, encoding = decode_csv(b"M\x61\xde x\x61\xde\n")
    assert (decoded, encoding) == ("Mã xã\n", "cp1258")


def test_csv_rows_are_numbered_as_the_spreadsheet_shows_them() -> None:
    data = 'Mã xã;Ghi chú\n00004;"hai\ndòng"\n\n00008;x\n'.encode()
    table = read_table(data)
    assert [(n, cells) for n, cells in table.rows] == [(1, ["Mã xã", "Ghi chú"]), (2, ["00004", "hai\ndòng"]),
                                                       (4, ["00008", "x"])]  # fmt: skip


def test_unreadable_files() -> None:
    for data in (b"", b"\xd0\xcf\x11\xe0xls", b"PK\x03\x04junk", b"a,b\x00c\n"):
        with pytest.raises(FileFormatError):
            read_table(data)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/huge.xml", b"\0" * (300 * 1024 * 1024))
    with pytest.raises(FileFormatError, match="inflates"):
        read_table(bomb.getvalue())


def test_xlsx_cells_keep_their_types_and_row_numbers() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Báo cáo tháng 10"])
    sheet.append([])
    sheet.append(["Ngày", "Mã xã", "Số thẻ CCCD đã cấp"])
    sheet.append([datetime(2026, 11, 22), 4, 95])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = read_table(buffer.getvalue(), "bao-cao.xlsx")
    assert table.format == "xlsx"
    assert table.rows == [(1, ["Báo cáo tháng 10"]), (3, ["Ngày", "Mã xã", "Số thẻ CCCD đã cấp"]),
                          (4, [datetime(2026, 11, 22), 4, 95])]  # fmt: skip


PAYOUT_CSV = """BÁO CÁO CHI TRẢ
Mã xã,Chương trình,Kỳ chi trả,Hạn chi trả,Số đối tượng,Qua tài khoản,Qua thẻ,Ví điện tử,Tiền mặt,Không chi trả được,\
Sai số tài khoản,Số tiền,Số tiền đã chi,Ghi chú
4,Người có công,11/2026,30/11/2026,"1.200",600,100,50,250,3,3,"1.416.000.000","1.180.000.000",
Tổng cộng,,,,"1.200",600,100,50,250,3,3,"1.416.000.000","1.180.000.000",
"""


def test_rows_become_push_api_items_with_ids_from_the_file_and_row() -> None:
    table = read_table(PAYOUT_CSV.encode())
    lookups = {"programme": name_table([("nguoi_co_cong", "Người có công với cách mạng", "People with merit")])}
    conversion = build_items(table, default_mapping("payout"), sha256="ab" * 32, now=NOW, lookups=lookups)
    assert conversion.layout.header_row == 2 and conversion.layout.ignored == ["Ghi chú"]
    assert conversion.skipped == [4] and conversion.errors == []
    [row] = conversion.items
    assert row.row == 3
    assert row.item == {
        "record_id": "file:" + "ab" * 16 + ":3", "locality": {"commune_code": "00004"}, "programme": "nguoi_co_cong",
        "cycle": "2026-11", "deadline": "2026-11-30", "beneficiaries_due": 1200, "paid_bank": 600, "paid_card": 100,
        "paid_ewallet": 50, "paid_cash": 250, "failed": 3, "failures": {"wrong_account": 3},
        "amount_due_vnd": 1_416_000_000, "amount_paid_vnd": 1_180_000_000,
        "paid_total": 1000,  # no "Đã chi trả" column: the sum of the four channels
        "reported_at": NOW.isoformat(),  # no report date: as of its arrival
    }  # fmt: skip


def test_a_missing_required_column_and_a_duplicated_one_are_named_on_the_header_row() -> None:
    table = read_table("Mã xã,Mã xã,Chương trình,Kỳ chi trả\n00004,00004,x,11/2026\n".encode())
    with pytest.raises(LayoutError) as caught:
        find_layout(table, default_mapping("payout"))
    found = {(e.row, e.columns, e.reason) for e in caught.value.errors}
    assert (1, ("Mã xã", "Mã xã"), "duplicate_column") in found
    assert (1, ("Hạn chi trả",), "missing_column") in found
    assert (1, ("Số đối tượng",), "missing_column") in found


def test_ingester_refusals_are_traced_back_to_the_files_columns() -> None:
    table = read_table(PAYOUT_CSV.encode())
    layout = build_items(table, default_mapping("payout"), sha256="0" * 64, now=NOW).layout
    totals = {"reason": "inconsistent_totals", "message": "paid_total + failed must not exceed beneficiaries_due"}
    assert columns_for(totals, layout) == ("Không chi trả được", "Số đối tượng")  # paid_total has no column
    place = {"reason": "unknown_locality", "message": "Không có xã mã '99999' / unknown commune code"}
    assert columns_for(place, layout) == ("Mã xã",)
    shape = {"reason": "invalid_field", "message": "cccd_issued: phải là số nguyên / must be a whole number"}
    assert columns_for(shape, layout) == ()


def test_programme_names_resolve_to_codes_by_a_distinctive_part() -> None:
    table = name_table([("bao_tro_xa_hoi", "Trợ cấp bảo trợ xã hội"), ("nguoi_co_cong", "Người có công với cách mạng")])
    assert resolve_name("Bảo trợ xã hội", table) == "bao_tro_xa_hoi"
    assert resolve_name("NGUOI CO CONG", table) == "nguoi_co_cong"
    assert resolve_name("bao_tro_xa_hoi", table) == "bao_tro_xa_hoi"
    assert resolve_name("xã", table) == "xã"  # too short to be distinctive: left for the ingester to refuse


def test_mapping_files_override_headers_add_constants_and_are_checked() -> None:
    data = parse_mapping_text(
        "columns:\n  beneficiaries_due: Tổng số người hưởng\nconstants:\n  programme: luong_huu\n"
    )
    mapping = apply_overrides(default_mapping("payout"), data)
    assert mapping.column("beneficiaries_due").headers == ("Tổng số người hưởng",)  # type: ignore[union-attr]
    assert mapping.column("programme") is None and mapping.constants == {"programme": "luong_huu"}
    json_mapping = parse_mapping_text('{"columns": {"locality.legacy_district_code": {"headers": ["Mã huyện"],'
                                      ' "kind": "code", "width": 3}}}')  # fmt: skip
    legacy = apply_overrides(default_mapping("payout"), json_mapping).column("locality.legacy_district_code")
    assert legacy is not None and (legacy.kind, legacy.width) == ("code", 3)
    bad: dict[str, Any]
    for bad in ({"stream": "id_issuance"}, {"columns": {"paid_cash": 3}}, {"colums": {}},
                {"columns": {"paid_cash": "Mã xã"}}, {"constants": {"programme": [1]}}):  # fmt: skip
        with pytest.raises(MappingError):
            apply_overrides(default_mapping("payout"), bad)
    with pytest.raises(MappingError):
        parse_mapping_text("- a list\n- not an object\n")
