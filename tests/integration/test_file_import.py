"""File import through the real upload route and the real stream ingesters: all rows or none.

Files are generated here the way departments make them: Vietnamese headers with diacritics,
day-first dates, thousands written with dots, a title above the table, a totals row below it.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from ioc.auth.scope import Scope
from tests.auth_support import user_token
from tests.conftest import LiveServer
from tests.integration.import_support import (
    ID_HEADERS,
    PAYOUT_HEADERS,
    XLSX,
    counts,
    csv_bytes,
    fetch,
    id_row,
    payout_cycles,
    payout_row,
    xlsx_bytes,
    yesterday,
)

PAYOUT = "/api/v1/imports/payout"
ID = "/api/v1/imports/id_issuance"
ROOT = Path(__file__).resolve().parents[2]

GOOD_PAYOUT = [
    payout_row("00004", "Phường Ba Đình"),
    payout_row("00008", "Phường Ngọc Hà", "Bảo trợ xã hội", due=800, bank=300, card=0, ewallet=20, cash=380,
               failed=0, amount_due=480_000_000, amount_paid=420_000_000),
    payout_row("00025", "Phường Giảng Võ", "luong_huu", due=2000, bank=1900, card=50, ewallet=0, cash=40, failed=2,
               amount_due=9_000_000_000, amount_paid=8_950_000_000),
]  # fmt: skip


def upload(server: LiveServer, path: str, data: bytes, content_type: str = "text/csv", *, token: str | None = None,
           name: str = "bao-cao.csv") -> dict[str, Any]:  # fmt: skip
    with server.client(token) as client:
        response = client.post(path, files={"file": (name, data, content_type)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_good_csv_imports_every_row(live_server: LiveServer) -> None:
    data = csv_bytes(PAYOUT_HEADERS, GOOD_PAYOUT, title="BÁO CÁO KẾT QUẢ CHI TRẢ TRỢ CẤP — THÀNH PHỐ HÀ NỘI")
    body = upload(live_server, PAYOUT, data)
    assert (body["outcome"], body["rows"], body["accepted"], body["errors"]) == ("imported", 3, 3, [])
    # The title and the blank line take rows 1–2: the header is row 3, the data rows 4–6.
    assert [r["row"] for r in body["results"]] == [4, 5, 6]
    cycles = payout_cycles(live_server.db_url)
    # Row 4: 600 + 100 + 50 + 250 = 1,000 paid of 1,200; 5 failed, booked under "other" (no breakdown).
    assert cycles["00004/nguoi_co_cong"] == (1200, 1000, 600, 100, 50, 250, 5, {"other": 5}, 1_416_000_000,
                                             1_180_000_000)  # fmt: skip
    # "Bảo trợ xã hội" is part of the programme's name "Trợ cấp bảo trợ xã hội"; "luong_huu" is its code.
    assert cycles["00008/bao_tro_xa_hoi"][:2] == (800, 700)
    assert cycles["00025/luong_huu"][-2:] == (9_000_000_000, 8_950_000_000)
    [ledger] = fetch(live_server.db_url, "SELECT outcome, row_count, accepted, format, imported_by FROM file_import")
    assert ledger[:4] == ("imported", 3, 3, "csv") and ledger[4].startswith("user:")
    [audit] = fetch(
        live_server.db_url, "SELECT outcome, details->>'outcome' FROM audit_log WHERE action = 'import.file'"
    )
    assert audit == ("ok", "imported")


def test_a_good_xlsx_imports_every_row(live_server: LiveServer) -> None:
    day = yesterday()
    rows = [id_row(day, "00004", "Phường Ba Đình"),
            id_row(day, "00070", "Phường Hoàn Kiếm", received=80, issued=60, eligible=31_000, issued_total=30_100),
            ["Tổng cộng", None, None, 200, 155, 85_000, 82_675, 620, 560, 300, 18_600]]  # fmt: skip
    data = xlsx_bytes(ID_HEADERS, rows, title="Báo cáo cấp CCCD và định danh điện tử mức 2")
    body = upload(live_server, ID, data, XLSX, name="cccd.xlsx")
    assert (body["outcome"], body["rows"], body["accepted"], body["format"]) == ("imported", 2, 2, "xlsx")
    assert body["skipped_rows"] == [6]  # the totals row is no locality's report
    stored = fetch(
        live_server.db_url,
        "SELECT commune_code, day, cccd_received, cccd_issued, eligible_population, cccd_issued_total,"
        " l2_activated_total FROM id_issuance_daily ORDER BY 1",
    )
    assert stored == [("00004", day, 120, 95, 54_000, 52_575, 9_300), ("00070", day, 80, 60, 31_000, 30_100, 9_300)]


def test_one_bad_row_imports_nothing_and_names_the_row_and_column(live_server: LiveServer) -> None:
    bad = [*GOOD_PAYOUT, payout_row("00070", "Phường Hoàn Kiếm")]
    bad[1] = [*bad[1]]
    bad[1][PAYOUT_HEADERS.index("Qua thẻ")] = "mười"  # row 3 of the file: not a number
    bad[3][PAYOUT_HEADERS.index("Tiền mặt")] = 999  # row 5: channels no longer add up to "Đã chi trả"
    before = counts(live_server.db_url)
    body = upload(live_server, PAYOUT, csv_bytes(PAYOUT_HEADERS, bad))
    assert body["outcome"] == "rejected" and body["accepted"] == 0
    errors = {(e["row"], e["column"], e["reason"]) for e in body["errors"]}
    assert (3, "Qua thẻ", "invalid_cell") in errors
    [totals] = [e for e in body["errors"] if e["row"] == 5]
    assert totals["reason"] == "inconsistent_totals"
    assert "Tiền mặt" in totals["column"] and "Đã chi trả" in totals["column"]
    assert counts(live_server.db_url) == before  # the good rows 2 and 4 were not written either
    # The good rows say they passed, not that they were stored.
    assert {r["row"]: r["status"] for r in body["results"]} == {2: "valid", 3: "rejected", 4: "valid", 5: "rejected"}
    [ledger] = fetch(live_server.db_url, "SELECT outcome, jsonb_array_length(errors) FROM file_import")
    assert ledger == ("rejected", 2)


def test_the_same_file_twice_changes_nothing(live_server: LiveServer) -> None:
    data = csv_bytes(PAYOUT_HEADERS, GOOD_PAYOUT)
    first = upload(live_server, PAYOUT, data)
    after_first = counts(live_server.db_url)
    second = upload(live_server, PAYOUT, data, name="ban-sao.csv")
    assert second["outcome"] == "already_imported" and second["import_id"] == first["import_id"]
    assert second["first_imported_at"] is not None
    assert counts(live_server.db_url) == after_first
    # The same bytes as JSON (base64) are the same file too.
    with live_server.client() as client:
        third = client.post(PAYOUT, json={"file_name": "x.csv", "content_base64": base64.b64encode(data).decode()})
    assert third.json()["outcome"] == "already_imported"
    assert fetch(live_server.db_url, "SELECT count(*) FROM file_import WHERE outcome = 'imported'") == [(1,)]


def test_an_out_of_scope_row_is_a_row_error_for_a_scoped_operator(live_server: LiveServer) -> None:
    operator = user_token(live_server.db_url, "can-bo-ha-noi", "operator", Scope.from_dict({"provinces": ["01"]}))
    rows = [payout_row("00004", "Phường Ba Đình"), payout_row("25747", "Phường Thủ Dầu Một")]
    body = upload(live_server, PAYOUT, csv_bytes(PAYOUT_HEADERS, rows), token=operator)
    assert body["outcome"] == "rejected"
    [error] = body["errors"]
    assert (error["row"], error["reason"]) == (3, "locality_out_of_scope")
    assert error["column"] == "Mã xã, Tên xã"
    assert counts(live_server.db_url)["payout_report"] == 0
    # The operator's own Hà Nội row alone goes through.
    ok = upload(live_server, PAYOUT, csv_bytes(PAYOUT_HEADERS, rows[:1]), token=operator)
    assert ok["outcome"] == "imported"
    # The list shows a scoped reader only imports within their scope, and their own.
    leader = user_token(live_server.db_url, "lanh-dao-ha-noi", "leader", Scope.from_dict({"provinces": ["01"]}))
    with live_server.client(leader) as client:
        assert client.get("/api/v1/imports").status_code == 403  # leaders do not import
    other = user_token(live_server.db_url, "can-bo-khac", "operator", Scope.from_dict({"provinces": ["01"]}))
    with live_server.client(other) as client:
        seen = client.get("/api/v1/imports").json()["imports"]
    assert [i["outcome"] for i in seen] == ["imported"]  # the rejected file named a row in 79
    with live_server.client() as admin:
        assert len(admin.get("/api/v1/imports").json()["imports"]) == 2


def test_headers_tolerate_case_spacing_and_diacritics_and_windows_1258(live_server: LiveServer) -> None:
    headers = ["MÃ XÃ", "ten xa", "Chương  trình", "Ky chi tra", "Hạn chi trả:", "Số đối tượng (người)", "ĐÃ CHI TRẢ",
               "Qua tai khoan", "Qua thẻ", "Ví điện tử", "Tiền mặt", "Không chi trả được", "Số tiền (VNĐ)",
               "So tien da chi", "Ghi chú"]  # fmt: skip
    rows = [[*payout_row("4", "Phường Ba Đình"), "đúng hạn"]]  # "4": the spreadsheet dropped the leading zeros
    data = csv_bytes(headers, rows, encoding="cp1258", delimiter=";")
    body = upload(live_server, PAYOUT, data)
    assert body["outcome"] == "imported", body["errors"]
    assert body["ignored_columns"] == ["Ghi chú"]
    assert "00004/nguoi_co_cong" in payout_cycles(live_server.db_url)


def test_a_missing_column_is_named_and_a_mapping_file_fixes_it(live_server: LiveServer, tmp_path: Path) -> None:
    headers = [h if h != "Số đối tượng" else "Tổng số người hưởng trợ cấp" for h in PAYOUT_HEADERS]
    data = csv_bytes(headers, GOOD_PAYOUT[:1])
    body = upload(live_server, PAYOUT, data)
    assert body["outcome"] == "rejected"
    assert [(e["row"], e["column"], e["reason"]) for e in body["errors"]] == [(1, "Số đối tượng", "missing_column")]
    # The CLI, with a mapping file naming the department's header.
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns:\n  beneficiaries_due: [Tổng số người hưởng trợ cấp]\n", encoding="utf-8")
    report = tmp_path / "bao-cao.csv"
    report.write_bytes(data)
    env = {**os.environ, "IOC_DATABASE_URL": live_server.db_url}
    command = [sys.executable, "-m", "ioc.cli", "import", "payout", str(report), "--mapping", str(mapping)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[imported]" in done.stdout
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "[already_imported]" in again.stdout
    assert fetch(
        live_server.db_url, "SELECT starts_with(imported_by, 'cli:') FROM file_import WHERE outcome = 'imported'"
    ) == [(True,)]


def test_the_cli_exits_1_on_a_rejected_file_and_prints_row_and_column(live_server: LiveServer, tmp_path: Path) -> None:
    rows = [payout_row("00004", "Phường Ba Đình"), payout_row("99999", "Xã Không Có")]
    report = tmp_path / "sai.xlsx"
    report.write_bytes(xlsx_bytes(PAYOUT_HEADERS, rows))
    env = {**os.environ, "IOC_DATABASE_URL": live_server.db_url}
    done = subprocess.run([sys.executable, "-m", "ioc.cli", "import", "payout", str(report)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dòng 3 / row 3, cột / column «Mã xã, Tên xã»" in done.stdout
    assert counts(live_server.db_url)["payout_report"] == 0


def test_unreadable_files_are_rejected_whole(live_server: LiveServer) -> None:
    cases = [
        (b"PK\x03\x04 not really a zip", XLSX, "unreadable_file"),
        (b"\xd0\xcf\x11\xe0legacy excel", "application/octet-stream", "unreadable_file"),
        ("Tiêu đề\nmột dòng\n".encode(), "text/csv", "no_header_row"),
        (csv_bytes(PAYOUT_HEADERS, []), "text/csv", "no_rows"),
    ]
    for data, content_type, reason in cases:
        body = upload(live_server, PAYOUT, data, content_type)
        assert (body["outcome"], body["errors"][0]["reason"]) == ("rejected", reason), body
    with live_server.client() as client:
        raw = client.post(PAYOUT, content=b"a,b\n1,2\n", headers={"Content-Type": "image/png"})
        assert raw.status_code == 415
        response = client.post(PAYOUT, content=csv_bytes(PAYOUT_HEADERS, GOOD_PAYOUT[:1]),
                               headers={"Content-Type": "text/csv"}, params={"file_name": "tho.csv"})  # fmt: skip
        assert response.json()["outcome"] == "imported"
        assert client.post(PAYOUT, files={"khac": ("a.csv", b"x")}).status_code == 400
        bad_source = client.post(PAYOUT, params={"source": "khong-co"}, files={"file": ("a.csv", b"x")})
        assert bad_source.status_code == 422
    with httpx.Client(base_url=live_server.url) as anonymous:
        assert anonymous.post(PAYOUT, content=b"x", headers={"Content-Type": "text/csv"}).status_code == 401


def test_two_uploads_of_one_file_at_once_import_it_once(live_server: LiveServer) -> None:
    data = csv_bytes(PAYOUT_HEADERS, GOOD_PAYOUT)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: upload(live_server, PAYOUT, data), range(4)))
    outcomes = sorted(a["outcome"] for a in answers)
    assert outcomes == ["already_imported", "already_imported", "already_imported", "imported"]
    assert {a["import_id"] for a in answers} == {next(a["import_id"] for a in answers if a["outcome"] == "imported")}
    assert all(a["rows"] == 3 for a in answers)
    assert counts(live_server.db_url)["payout_report"] == 3


def test_a_file_over_the_size_limit_is_refused_before_anything_is_read(live_server: LiveServer) -> None:
    limit = max(live_server.settings.max_request_bytes, live_server.settings.max_body_bytes)
    big = csv_bytes(PAYOUT_HEADERS, GOOD_PAYOUT) + b"," * (limit + 1)
    with live_server.client() as client:
        response = client.post(PAYOUT, content=big, headers={"Content-Type": "text/csv"})
    assert response.status_code == 413
    assert fetch(live_server.db_url, "SELECT count(*) FROM file_import") == [(0,)]
