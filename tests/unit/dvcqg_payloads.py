"""Portal payloads shaped as the public implementations build them (see
/work/shared/domain/dvcqg-sync.md): OpenCPS's createSyncDossierBodyRequest and
createSyncDossierStatusBodyRequest (the 2020 generation, no KenhThucHien) and the TD one-stop
system's DTOs (the 2024-25 generation). Shared by the unit, integration and end-to-end tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def stamp(t: datetime | None) -> str:
    """yyyyMMddHHmmss in Vietnamese time, "" for no date (as both implementations send it)."""
    return t.astimezone(VN).strftime("%Y%m%d%H%M%S") if t is not None else ""


def ocps_dossier(code: str, status: str, received: datetime | None, *, procedure: str = "1.000001",
                 due: datetime | None = None, finished: datetime | None = None, returned: datetime | None = None,
                 agency: str = "UBND phường Ba Đình") -> dict[str, Any]:  # fmt: skip
    """OpenCPS rc-3.0's dossier object: strings throughout, "" for empty dates, no KenhThucHien."""
    return {
        "MaHoSo": code, "MaTTHC": procedure, "TenTTHC": "Đăng ký khai sinh", "MaLinhVuc": "G09-TP02",
        "TenLinhVuc": "Hộ tịch", "ChuHoSo": "Nguyễn Văn A", "LoaiDoiTuong": "1", "MaDoiTuong": "",
        "ThongTinKhac": "", "Email": "", "Fax": "0900000000", "SoDienThoai": "0900000000",
        "TrichYeuHoSo": "Đăng ký khai sinh cho con", "NgayTiepNhan": stamp(received), "NgayHenTra": stamp(due),
        "TrangThaiHoSo": status, "NgayTra": stamp(returned), "ThongTinTra": "", "HinhThuc": "0",
        "NgayKetThucXuLy": stamp(finished), "DonViXuLy": agency,
        "TaiLieuNop": [{"TepDinhKemId": "101", "TenTepDinhKem": "to-khai.pdf", "IsDeleted": "False",
                        "MaThanhPhanHoSo": "TP1", "DuongDanTaiTepTin": "https://dvc.example/documents/1?download=true"}],
        "DanhSachLePhi": [], "DanhSachTepDinhKemKhac": [], "DanhSachHoSoBoSung": [], "DanhSachGiayToKetQua": [],
    }  # fmt: skip


def td_dossier(code: str, status: str, received: datetime | None, *, channel: str = "2",
               procedure: str = "1.000001", due: datetime | None = None, finished: datetime | None = None,
               returned: datetime | None = None, agency: str = "UBND phường Ba Đình") -> dict[str, Any]:  # fmt: skip
    """The TD system's dossier object (2024-25 generation): KenhThucHien and the newer fields."""
    return {
        **ocps_dossier(code, status, received, procedure=procedure, due=due, finished=finished, returned=returned,
                       agency=agency),
        "KenhThucHien": channel, "SoGiayToChuHoSo": "001090000001", "NgayNopHoSo": stamp(received),
        "NgayTuChoi": "", "NoiNopHoSo": "2", "HoSoCoThanhPhanSoHoa": "1", "TaiKhoanDuocXacThucVoiVNeID": "0",
        "DuocThanhToanTrucTuyen": "0", "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "001090000001"}],
        "DSKetNoiCSDL": [{"MaCSDL": "7"}], "GhiChu": "",
    }  # fmt: skip


def progress(code: str, status: str, at: datetime, *, official: str = "Trần Thị B",
             action: str = "Chuyển xử lý") -> dict[str, Any]:  # fmt: skip
    """A CapNhatTienDoHoSoMC item as OpenCPS builds it (one per call, the latest action)."""
    return {
        "MaHoSo": code, "NguoiXuLy": official, "ChucDanh": "", "ThoiDiemXuLy": stamp(at), "PhongBanXuLy": "",
        "NoiDungXuLy": f"{action}-", "TrangThai": status, "NgayBatDau": "", "NgayKetThucTheoQuyDinh": "",
    }  # fmt: skip


def envelope(service: str, data: list[dict[str, Any]], *, session: str = "", unit: str = "000.00.01.H01",
             updating: bool | None = None) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {"session": session, "madonvi": unit, "service": service, "data": data}
    if service == "DongBoHoSoMC":
        body["isUpdating"] = "True" if updating else "False"
    return body
