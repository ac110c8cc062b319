"""The portal's code lists (TrangThaiHoSo, KenhThucHien) and its date format, mapped to ours.

Sources: the public implementations summarised in /work/shared/domain/dvcqg-sync.md (OpenCPS,
the TD one-stop system, the Hà Giang gateway). The official field table was not readable, so
nothing here claims more than those implementations show.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from ingest.lifecycle import LOCAL_TZ, Channel, EventType

# TrangThaiHoSo (also the progress item's TrangThai): Vietnamese name first, English second.
STATUS_NAMES: Final[dict[str, str]] = {
    "1": "Mới đăng ký / newly registered",
    "2": "Được tiếp nhận / received",
    "3": "Không được tiếp nhận / refused at receipt",
    "4": "Đang xử lý / being processed",
    "5": "Yêu cầu bổ sung giấy tờ / supplement requested",
    "6": "Yêu cầu thực hiện nghĩa vụ tài chính / fee or tax payment requested",
    "7": "Công dân yêu cầu rút hồ sơ / withdrawn by the applicant",
    "8": "Dừng xử lý / processing stopped",
    "9": "Đã xử lý xong / processed, result ready",
    "10": "Đã trả kết quả / result handed over",
}

# Entering a status → the native event that records it. 5 and 6 both stop the clock (the citizen
# owes papers or a payment); 4 after them restarts it (the fold ignores a restart with no pause,
# so 4 is harmless otherwise). 8 "Dừng xử lý" ends the dossier without a result: there is no
# native "stopped" type, and `rejected` is the closing type the fold and indicators treat the same
# way (closed, not resolved). 1 (registered, not received) and 2 (the receipt itself, derived
# from NgayTiepNhan) add no event of their own.
STATUS_EVENT: Final[dict[str, EventType]] = {
    "3": EventType.REJECTED,
    "4": EventType.SUPPLEMENT_RECEIVED,
    "5": EventType.SUPPLEMENT_REQUESTED,
    "6": EventType.SUPPLEMENT_REQUESTED,
    "7": EventType.WITHDRAWN,
    "8": EventType.REJECTED,
    "9": EventType.RESOLVED,
    "10": EventType.RETURNED,
}
PAUSED: Final = frozenset({"5", "6"})

# KenhThucHien (TD, 2024-25 generation): 1 trực tiếp, 2 trực tuyến, 3 BCCI (postal).
CHANNELS: Final[dict[str, Channel]] = {"1": Channel.DIRECT, "2": Channel.ONLINE, "3": Channel.POSTAL}

_DATE = re.compile(r"^\d{14}$")


class BadDate(ValueError):
    pass


def portal_time(value: str) -> datetime:
    """yyyyMMddHHmmss in Asia/Ho_Chi_Minh (OpenCPS formats in that zone; TD sends server-local
    time, which for a Vietnamese system is the same). Only this format is read without an offset:
    the native API still insists on one."""
    if not _DATE.match(value):
        raise BadDate(f"{value!r} is not yyyyMMddHHmmss")
    try:  # by slices, not strptime: five dates a record, and strptime costs ~10 µs each
        return datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]), int(value[10:12]),
                        int(value[12:14]), tzinfo=LOCAL_TZ)  # fmt: skip
    except ValueError as exc:
        raise BadDate(f"{value!r} is not a real date ({exc})") from exc


def portal_stamp(moment: datetime) -> str:
    t = moment.astimezone(LOCAL_TZ)  # formatted by hand: strftime costs several times more
    return f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"
