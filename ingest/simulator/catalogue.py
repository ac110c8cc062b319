"""Reference data for the simulator: common procedures (TTHC), provinces, communes, populations.

Figures that shape the simulation, from the domain brief (/work/shared/domain/brief.md):
- on-time rates reported between 91 % and 99.99 % (Hà Nội 99.58 % in 2022, Bình Dương 98.97 %
  in H1-2022, Cà Mau civil status 99.99 %); the brief derives a 1–9 % late rate for a simulator,
  the generator draws one per province (most 1–4.5 %, a few 6–10 %: ≈ 96–97 % on time nationally);
- Hà Nội received and resolved more than 1 million dossiers in 2022; nationally more than 5.9 M
  dossiers were synced to the national portal in a month (4/2023), the volume intake.py uses;
- national target: 50 % of dossiers submitted online by the end of 2023 (Hà Nội had 20 % online
  in 2018–2020), so the online shares below average 45 % (weighted by `weight`);
- every late dossier must carry an apology (VPCP, 2023); in practice not all do, hence 70 %.
The brief does not give the "about 17.8 million dossiers a year" for Hồ Chí Minh City (its 17,800
is a count of business regulations), so provinces' volumes follow population only (intake.py).

Procedure codes follow the national format (1.00xxxx) but are illustrative, not the official
codes; statutory days are typical values from the procedures' legal bases, rounded.
Agencies follow the two-tier local government in force since 1/7/2025 (no districts; the
former Sở Kế hoạch và Đầu tư is part of Sở Tài chính, Sở Tài nguyên và Môi trường of Sở Nông
nghiệp và Môi trường, Sở Lao động – Thương binh và Xã hội of Sở Nội vụ).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources


class AgencyLevel(StrEnum):
    COMMUNE = "commune"  # Ủy ban nhân dân xã / phường / đặc khu
    COMMUNE_POLICE = "commune_police"  # Công an xã / phường (residence registration)
    PROVINCE = "province"  # a provincial department or branch


@dataclass(frozen=True)
class Procedure:
    code: str
    name: str
    sector: str
    statutory_days: int  # working days
    online_share: float  # share of dossiers submitted online
    level: AgencyLevel
    weight: float  # relative frequency among all new dossiers
    department: str = ""  # for provincial procedures, e.g. "Sở Tư pháp"
    department_code: str = ""


HO_TICH = "Hộ tịch"
CHUNG_THUC = "Chứng thực"
TU_PHAP = "Tư pháp"
CU_TRU = "Cư trú"
DAT_DAI = "Đất đai"
DKKD = "Đăng ký kinh doanh"
THUE = "Thuế"
BHXH = "Bảo hiểm xã hội"
LDTBXH = "Lao động – thương binh và xã hội"
XAY_DUNG = "Xây dựng"
DUONG_BO = "Đường bộ"
CONG_THUONG = "Công thương"

_C = AgencyLevel.COMMUNE
_CA = AgencyLevel.COMMUNE_POLICE
_P = AgencyLevel.PROVINCE

PROCEDURES: tuple[Procedure, ...] = (
    Procedure("1.001193", "Đăng ký khai sinh", HO_TICH, 1, 0.60, _C, 10.0),
    Procedure("1.000656", "Đăng ký khai tử", HO_TICH, 1, 0.40, _C, 3.0),
    Procedure("1.000894", "Đăng ký kết hôn", HO_TICH, 3, 0.35, _C, 3.0),
    Procedure("1.004884", "Cấp bản sao trích lục hộ tịch", HO_TICH, 1, 0.55, _C, 5.0),
    Procedure("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", HO_TICH, 3, 0.55, _C, 6.0),
    Procedure("1.004859", "Đăng ký thay đổi, cải chính, bổ sung thông tin hộ tịch", HO_TICH, 3, 0.40, _C, 2.0),
    Procedure("2.000815", "Chứng thực bản sao từ bản chính", CHUNG_THUC, 1, 0.10, _C, 14.0),
    Procedure("2.000884", "Chứng thực chữ ký trong các giấy tờ, văn bản", CHUNG_THUC, 1, 0.05, _C, 4.0),
    Procedure("2.001019", "Chứng thực hợp đồng, giao dịch liên quan đến động sản", CHUNG_THUC, 2, 0.05, _C, 1.0),
    Procedure(
        "2.000488",
        "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
        TU_PHAP,
        10,
        0.75,
        _P,
        4.0,
        "Sở Tư pháp",
        "STP",
    ),
    Procedure("1.004194", "Đăng ký thường trú", CU_TRU, 7, 0.60, _CA, 4.0),
    Procedure("1.004222", "Đăng ký tạm trú", CU_TRU, 3, 0.70, _CA, 5.0),
    Procedure("1.004206", "Xóa đăng ký thường trú", CU_TRU, 5, 0.50, _CA, 1.0),
    Procedure("1.001039", "Khai báo tạm vắng", CU_TRU, 1, 0.65, _CA, 1.0),
    Procedure(
        "1.004227",
        "Đăng ký biến động quyền sử dụng đất, tài sản gắn liền với đất",
        DAT_DAI,
        10,
        0.15,
        _P,
        5.0,
        "Văn phòng Đăng ký đất đai",
        "VPDKDD",
    ),
    Procedure(
        "1.012755",
        "Cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
        DAT_DAI,
        20,
        0.10,
        _C,
        2.0,
    ),
    Procedure("1.012773", "Chuyển mục đích sử dụng đất", DAT_DAI, 15, 0.10, _C, 1.0),
    Procedure(
        "1.004203",
        "Tách thửa hoặc hợp thửa đất",
        DAT_DAI,
        15,
        0.10,
        _P,
        1.0,
        "Văn phòng Đăng ký đất đai",
        "VPDKDD",
    ),
    Procedure(
        "1.010818",
        "Đính chính Giấy chứng nhận đã cấp",
        DAT_DAI,
        10,
        0.10,
        _P,
        0.5,
        "Văn phòng Đăng ký đất đai",
        "VPDKDD",
    ),
    Procedure(
        "2.001610",
        "Đăng ký thành lập công ty trách nhiệm hữu hạn",
        DKKD,
        3,
        0.95,
        _P,
        1.5,
        "Sở Tài chính",
        "STC",
    ),
    Procedure(
        "2.002042",
        "Đăng ký thay đổi nội dung đăng ký doanh nghiệp",
        DKKD,
        3,
        0.95,
        _P,
        2.0,
        "Sở Tài chính",
        "STC",
    ),
    Procedure(
        "1.005390",
        "Thông báo tạm ngừng kinh doanh",
        DKKD,
        3,
        0.90,
        _P,
        0.5,
        "Sở Tài chính",
        "STC",
    ),
    Procedure("2.000720", "Đăng ký thành lập hộ kinh doanh", DKKD, 3, 0.45, _C, 2.0),
    Procedure(
        "1.007701",
        "Đăng ký thuế lần đầu đối với cá nhân",
        THUE,
        3,
        0.80,
        _P,
        2.0,
        "Thuế",
        "THUE",
    ),
    Procedure(
        "1.007737",
        "Hoàn thuế thu nhập cá nhân",
        THUE,
        6,
        0.90,
        _P,
        1.0,
        "Thuế",
        "THUE",
    ),
    Procedure(
        "1.000045",
        "Cấp lại, đổi thẻ bảo hiểm y tế",
        BHXH,
        5,
        0.70,
        _P,
        3.0,
        "Bảo hiểm xã hội",
        "BHXH",
    ),
    Procedure(
        "1.001954",
        "Giải quyết hưởng chế độ thai sản",
        BHXH,
        6,
        0.55,
        _P,
        1.0,
        "Bảo hiểm xã hội",
        "BHXH",
    ),
    Procedure(
        "1.002032",
        "Giải quyết hưởng bảo hiểm xã hội một lần",
        BHXH,
        10,
        0.40,
        _P,
        1.0,
        "Bảo hiểm xã hội",
        "BHXH",
    ),
    Procedure(
        "1.001978",
        "Giải quyết hưởng trợ cấp thất nghiệp",
        LDTBXH,
        20,
        0.50,
        _P,
        1.5,
        "Sở Nội vụ",
        "SNV",
    ),
    Procedure(
        "1.001776",
        "Thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội hằng tháng",
        LDTBXH,
        10,
        0.30,
        _C,
        1.0,
    ),
    Procedure(
        "1.000105",
        "Cấp giấy phép lao động cho người lao động nước ngoài",
        LDTBXH,
        5,
        0.90,
        _P,
        0.3,
        "Sở Nội vụ",
        "SNV",
    ),
    Procedure("1.009972", "Cấp giấy phép xây dựng nhà ở riêng lẻ", XAY_DUNG, 15, 0.40, _C, 1.5),
    Procedure(
        "1.009974",
        "Cấp giấy phép xây dựng công trình",
        XAY_DUNG,
        20,
        0.50,
        _P,
        0.3,
        "Sở Xây dựng",
        "SXD",
    ),
    Procedure(
        "1.002809",
        "Cấp đổi giấy phép lái xe",
        DUONG_BO,
        7,
        0.85,
        _P,
        2.0,
        "Công an",
        "CA",
    ),
    Procedure("2.000633", "Cấp Giấy phép bán lẻ sản phẩm rượu", CONG_THUONG, 10, 0.30, _C, 0.3),
)

# APPROXIMATE populations of the 34 provinces formed on 1/7/2025: the "quy mô dân số" figures of
# the merger proposals as remembered (general knowledge, rounded, not authoritative). They count
# registered residents and sum to about 113 million, above the ~101 million national estimate
# for 2024; only each province's share matters here, as the weight of its simulated dossiers.
PROVINCE_POPULATION: dict[str, int] = {
    "01": 8_720_000,  # Hà Nội
    "04": 570_000,  # Cao Bằng
    "08": 1_870_000,  # Tuyên Quang + Hà Giang
    "11": 650_000,  # Điện Biên
    "12": 490_000,  # Lai Châu
    "14": 1_300_000,  # Sơn La
    "15": 1_780_000,  # Lào Cai + Yên Bái
    "19": 1_800_000,  # Thái Nguyên + Bắc Kạn
    "20": 810_000,  # Lạng Sơn
    "22": 1_430_000,  # Quảng Ninh
    "24": 3_620_000,  # Bắc Ninh + Bắc Giang
    "25": 4_020_000,  # Phú Thọ + Vĩnh Phúc + Hòa Bình
    "31": 4_660_000,  # Hải Phòng + Hải Dương
    "33": 3_570_000,  # Hưng Yên + Thái Bình
    "37": 4_410_000,  # Ninh Bình + Hà Nam + Nam Định
    "38": 4_300_000,  # Thanh Hóa
    "40": 3_470_000,  # Nghệ An
    "42": 1_620_000,  # Hà Tĩnh
    "44": 1_870_000,  # Quảng Trị + Quảng Bình
    "46": 1_430_000,  # Huế
    "48": 3_070_000,  # Đà Nẵng + Quảng Nam
    "51": 2_160_000,  # Quảng Ngãi + Kon Tum
    "52": 3_580_000,  # Gia Lai + Bình Định
    "56": 2_240_000,  # Khánh Hòa + Ninh Thuận
    "66": 3_350_000,  # Đắk Lắk + Phú Yên
    "68": 3_870_000,  # Lâm Đồng + Đắk Nông + Bình Thuận
    "75": 4_490_000,  # Đồng Nai + Bình Phước
    "79": 14_000_000,  # Hồ Chí Minh + Bình Dương + Bà Rịa – Vũng Tàu
    "80": 3_250_000,  # Tây Ninh + Long An
    "82": 4_370_000,  # Đồng Tháp + Tiền Giang
    "86": 4_260_000,  # Vĩnh Long + Bến Tre + Trà Vinh
    "91": 4_950_000,  # An Giang + Kiên Giang
    "92": 4_200_000,  # Cần Thơ + Sóc Trăng + Hậu Giang
    "96": 2_610_000,  # Cà Mau + Bạc Liêu
}


@dataclass(frozen=True)
class Commune:
    code: str
    name: str  # e.g. "Phường Hồng Hà"


@dataclass(frozen=True)
class Province:
    code: str
    name: str  # e.g. "Thành phố Hà Nội"
    communes: tuple[Commune, ...]

    @property
    def name_in_title(self) -> str:
        """The name as it follows an agency title: "Sở Tư pháp thành phố Hà Nội"."""
        return self.name[:1].lower() + self.name[1:]


_ADMIN_UNITS_SQL = """
SELECT provinceCode, province, wardCode, ward
FROM admin_units
ORDER BY provinceCode, wardCode
"""


@cache
def load_provinces() -> tuple[Province, ...]:
    """The 34 current provinces and their communes, from the vietnamadminunits package data."""
    dataset = resources.files("vietnamadminunits").joinpath("data/dataset.db")
    with resources.as_file(dataset) as path:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute(_ADMIN_UNITS_SQL).fetchall()
        finally:
            connection.close()
    names: dict[str, str] = {}
    communes: dict[str, list[Commune]] = {}
    for province_code, province_name, ward_code, ward_name in rows:
        names[province_code] = province_name
        communes.setdefault(province_code, []).append(Commune(ward_code, ward_name))
    return tuple(Province(code, names[code], tuple(communes[code])) for code in sorted(names))
