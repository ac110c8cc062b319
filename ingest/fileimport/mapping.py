"""Which spreadsheet column fills which field of a stream's push-API item, per stream.

Each column has the headers departments are known to use (the first is the one messages and
templates show); headers are compared with `header_key`, so case, spacing, punctuation and
diacritics do not matter, and a trailing unit in brackets that does not change the number
("Số tiền (đồng)", "(VNĐ)", "(người)") is ignored — "(triệu đồng)" is not, since it would.

A mapping file (JSON, or YAML) overrides the defaults:

    {"stream": "payout",                                  # optional; checked when given
     "sheet": "Báo cáo",                                  # optional; default the first worksheet
     "columns": {"beneficiaries_due": ["Tổng số người hưởng"],          # replaces that column's headers
                 "paid_cash": "Chi tiền mặt tại điểm chi trả",
                 "locality.legacy_district_code": {"headers": ["Mã huyện"], "kind": "code", "width": 3}},
     "constants": {"programme": "nguoi_co_cong"}}         # the same value in every row

Pure: no I/O (the caller reads the file and hands its text to `parse_mapping_text`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ingest.fileimport.headers import header_key
from ingest.fileimport.values import KINDS, Kind

# Units in brackets after a header that leave the number as it is.
NEUTRAL_UNITS = frozenset({"dong", "d", "vnd", "nguoi", "doi tuong", "ho so", "the", "tai khoan", "luot"})
MAX_MAPPING_BYTES = 64 * 1024


class MappingError(ValueError):
    """A mapping (default or from a file) that cannot be used."""


@dataclass(frozen=True)
class Column:
    field: str  # a dot path in the item: "paid_total", "locality.commune_code", "failures.deceased"
    headers: tuple[str, ...]  # the first is the canonical one
    kind: Kind = "int"
    width: int | None = None  # codes: zero-pad to this many digits
    required: bool = False
    group: str | None = None  # at least one column of each group must be present ("locality")
    lookup: str | None = None  # resolve names to codes through this table ("programme")

    @property
    def header(self) -> str:
        return self.headers[0]


@dataclass(frozen=True)
class StreamMapping:
    stream: str
    columns: tuple[Column, ...]
    constants: Mapping[str, Any] = field(default_factory=dict)
    sheet: str | None = None

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for column in self.columns:
            for header in column.headers:
                key = header_key(header)
                if not key:
                    raise MappingError(f"{column.field}: empty header")
                other = seen.setdefault(key, column.field)
                if other != column.field:
                    raise MappingError(f"header {header!r} is given for both {other} and {column.field}")

    def column(self, field_path: str) -> Column | None:
        return next((c for c in self.columns if c.field == field_path), None)


def header_keys(text: object) -> tuple[str, ...]:
    """The keys a file's header matches under: itself, and without a neutral unit in brackets."""
    raw = "" if text is None else str(text).strip()
    key = header_key(raw)
    if raw.endswith(")") and "(" in raw:
        head, _, unit = raw[:-1].rpartition("(")
        if header_key(unit) in NEUTRAL_UNITS and header_key(head):
            return key, header_key(head)
    return (key,)


# -- defaults ------------------------------------------------------------------------------------

_LOCALITY = (
    Column("locality.commune_code", ("Mã xã", "Mã phường/xã", "Mã xã/phường", "Mã ĐVHC cấp xã", "Mã đơn vị"),
           "code", width=5, group="locality"),
    Column("locality.commune_name", ("Tên xã", "Xã/phường", "Phường/xã", "Xã, phường", "Tên đơn vị"),
           "text", group="locality"),
    Column("locality.province_code", ("Mã tỉnh", "Mã tỉnh/thành phố", "Mã tỉnh/TP"), "code", width=2,
           group="locality"),
    Column("locality.province_name", ("Tên tỉnh", "Tỉnh/thành phố", "Tỉnh/TP", "Tỉnh"), "text", group="locality"),
)  # fmt: skip

PAYOUT = StreamMapping("payout", (
    *_LOCALITY,
    Column("programme", ("Chương trình", "Chế độ", "Nhóm đối tượng", "Mã chương trình"), "text",
           required=True, lookup="programme"),
    Column("cycle", ("Kỳ chi trả", "Kỳ", "Tháng chi trả"), "month", required=True),
    Column("cycle_opens_on", ("Ngày bắt đầu chi trả", "Ngày bắt đầu", "Ngày mở kỳ"), "date"),
    Column("deadline", ("Hạn chi trả", "Hạn hoàn thành", "Thời hạn chi trả"), "date", required=True),
    Column("reported_at", ("Ngày báo cáo", "Thời điểm báo cáo", "Số liệu đến ngày"), "moment"),
    Column("beneficiaries_due", ("Số đối tượng", "Tổng số đối tượng", "Số người hưởng", "Số đối tượng phải chi trả"),
           required=True),
    Column("paid_total", ("Đã chi trả", "Số đối tượng đã chi trả", "Số người đã nhận", "Đã chi")),
    Column("paid_bank", ("Qua tài khoản", "Chuyển khoản", "Qua tài khoản ngân hàng"), required=True),
    Column("paid_card", ("Qua thẻ", "Thẻ ATM", "Qua thẻ ATM"), required=True),
    Column("paid_ewallet", ("Ví điện tử", "Qua ví điện tử"), required=True),
    Column("paid_cash", ("Tiền mặt", "Bằng tiền mặt", "Chi tiền mặt"), required=True),
    Column("failed", ("Không chi trả được", "Chưa chi trả được", "Chi trả không thành công")),
    Column("failures.wrong_account", ("Sai số tài khoản", "Lỗi tài khoản")),
    Column("failures.deceased", ("Người hưởng đã chết", "Đã chết", "Từ trần")),
    Column("failures.unreachable", ("Không liên lạc được",)),
    Column("failures.moved", ("Thay đổi địa chỉ", "Chuyển đi nơi khác")),
    Column("failures.other", ("Lý do khác",)),
    Column("amount_due_vnd", ("Số tiền", "Số tiền phải chi", "Kinh phí", "Kinh phí chi trả", "Tổng số tiền"),
           required=True),
    Column("amount_paid_vnd", ("Số tiền đã chi", "Số tiền đã chi trả", "Kinh phí đã chi"), required=True),
))  # fmt: skip

ID_ISSUANCE = StreamMapping("id_issuance", (
    *_LOCALITY,
    Column("day", ("Ngày", "Ngày số liệu", "Ngày báo cáo"), "date", required=True),
    Column("cccd_received", ("Số hồ sơ CCCD tiếp nhận", "Hồ sơ CCCD tiếp nhận", "CCCD tiếp nhận"), required=True),
    Column("cccd_issued", ("Số thẻ CCCD đã cấp", "Thẻ CCCD đã cấp", "CCCD đã cấp"), required=True),
    Column("eligible_population", ("Dân số đủ điều kiện", "Số công dân đủ điều kiện cấp CCCD",
                                   "Đủ điều kiện cấp CCCD"), required=True),
    Column("cccd_issued_total", ("Lũy kế thẻ CCCD đã cấp", "Lũy kế CCCD đã cấp", "Tổng số thẻ CCCD đã cấp"),
           required=True),
    Column("l2_received", ("Số hồ sơ định danh mức 2 tiếp nhận", "Hồ sơ mức 2 tiếp nhận", "Hồ sơ ĐDĐT mức 2 tiếp nhận"),
           required=True),
    Column("l2_approved", ("Số hồ sơ định danh mức 2 đã duyệt", "Hồ sơ mức 2 đã duyệt", "Hồ sơ ĐDĐT mức 2 đã duyệt"),
           required=True),
    Column("l2_activated", ("Số tài khoản mức 2 đã kích hoạt", "Tài khoản mức 2 kích hoạt",
                            "Tài khoản ĐDĐT mức 2 kích hoạt"), required=True),
    Column("l2_activated_total", ("Lũy kế tài khoản mức 2 đã kích hoạt", "Lũy kế kích hoạt mức 2"), required=True),
    Column("l2_eligible_population", ("Dân số đủ điều kiện mức 2", "Đủ điều kiện định danh mức 2")),
    Column("reported_at", ("Thời điểm báo cáo",), "moment"),
))  # fmt: skip

DEFAULT_MAPPINGS: dict[str, StreamMapping] = {m.stream: m for m in (PAYOUT, ID_ISSUANCE)}


def default_mapping(stream: str) -> StreamMapping:
    try:
        return DEFAULT_MAPPINGS[stream]
    except KeyError:
        raise MappingError(f"no file import for stream {stream!r} (known: {', '.join(DEFAULT_MAPPINGS)})") from None


# -- overrides -----------------------------------------------------------------------------------


def parse_mapping_text(text: str) -> dict[str, Any]:
    """A mapping file's text: JSON, or YAML (PyYAML, installed with uvicorn[standard])."""
    if len(text.encode()) > MAX_MAPPING_BYTES:
        raise MappingError("mapping file too large")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            import yaml

            data = yaml.safe_load(text)
        except Exception as exc:  # any YAML error: the file is neither JSON nor YAML
            raise MappingError(f"mapping file is neither JSON nor YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError('a mapping file holds an object: {"columns": {...}, "constants": {...}}')
    return data


def apply_overrides(base: StreamMapping, data: Mapping[str, Any]) -> StreamMapping:
    unknown = set(data) - {"stream", "sheet", "columns", "constants"}
    if unknown:
        raise MappingError(f"unknown mapping keys: {', '.join(sorted(unknown))}")
    if data.get("stream") not in (None, base.stream):
        raise MappingError(f"mapping file is for stream {data['stream']!r}, not {base.stream!r}")
    sheet = data.get("sheet", base.sheet)
    if sheet is not None and (not isinstance(sheet, str) or not sheet or len(sheet) > 100):
        raise MappingError("sheet: a worksheet name")
    columns = {c.field: c for c in base.columns}
    overrides = data.get("columns") or {}
    if not isinstance(overrides, dict):
        raise MappingError("columns: an object of field → header(s)")
    for field_path, spec in overrides.items():
        columns[field_path] = _column(field_path, spec, columns.get(field_path))
    constants = data.get("constants") or {}
    if not isinstance(constants, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str | int)) for k, v in constants.items()
    ):
        raise MappingError("constants: an object of field → text or whole number")
    # A constant replaces the column of the same field: that column is no longer needed.
    kept = tuple(c for f, c in columns.items() if f not in constants)
    return StreamMapping(base.stream, kept, {**base.constants, **constants}, sheet)


def _column(field_path: str, spec: Any, existing: Column | None) -> Column:
    if not isinstance(field_path, str) or not field_path or len(field_path) > 100:
        raise MappingError("columns: field names are non-empty text")
    if isinstance(spec, str):
        spec = {"headers": [spec]}
    elif isinstance(spec, list):
        spec = {"headers": spec}
    if not isinstance(spec, dict):
        raise MappingError(f"columns.{field_path}: a header, a list of headers, or an object")
    headers = spec.get("headers")
    if not isinstance(headers, list) or not headers or not all(isinstance(h, str) and h.strip() for h in headers):
        raise MappingError(f"columns.{field_path}.headers: a non-empty list of headers")
    kind = spec.get("kind", existing.kind if existing else "text")
    if kind not in KINDS:
        raise MappingError(f"columns.{field_path}.kind: one of {', '.join(KINDS)}")
    width = spec.get("width", existing.width if existing else None)
    if width is not None and (type(width) is not int or not 1 <= width <= 20):
        raise MappingError(f"columns.{field_path}.width: a whole number 1–20")
    required = spec.get("required", existing.required if existing else False)
    if not isinstance(required, bool):
        raise MappingError(f"columns.{field_path}.required: true or false")
    base = existing or Column(field_path, tuple(headers), kind)
    return replace(base, headers=tuple(h.strip() for h in headers), kind=kind, width=width, required=required)
