"""The request shapes the portal's clients send, read into one `SyncRequest`. Pure.

- The adapter envelope (OpenCPS): `{session, madonvi, service, isUpdating, data}`, `isUpdating` the
  string "True"/"False" and only on DongBoHoSoMC.
- A bare JSON array through a provincial gateway (TD): the service comes from the URL.
- The query-string variant (Hà Giang): a bare array, `?MaDinhDanhDV=<unit>&isUpdating=True|False`.

A request that cannot be read as any of them is refused whole with the portal's reply shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

MAX_UNIT = 64


class Service(StrEnum):
    DOSSIERS = "DongBoHoSoMC"  # sync one-stop dossiers (state)
    PROGRESS = "CapNhatTienDoHoSoMC"  # dossier progress steps


SERVICES: Final = {s.value: s for s in Service}

# error_code values of our replies. OpenCPS reads the field as a string and treats 0 as success;
# the TD client also wants "thành công" in the message, so every success message contains it.
OK: Final = 0
SOME_REFUSED: Final = 1  # per-item results say which and why; the client should resend after a fix
BAD_REQUEST: Final = -1
NOT_AUTHENTICATED: Final = -2
UNAVAILABLE: Final = -5


class EnvelopeError(ValueError):
    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass(frozen=True, slots=True)
class SyncRequest:
    service: Service
    items: list[Any]
    unit_id: str | None  # madonvi / MaDinhDanhDV: the calling unit's electronic identifier
    session: str | None
    is_updating: bool | None


def read_envelope(document: Any) -> SyncRequest:
    if isinstance(document, list):
        raise EnvelopeError(
            BAD_REQUEST,
            "mảng trần cần tên dịch vụ trong đường dẫn / a bare array needs the "
            "service in the URL (…/dvcqg/DongBoHoSoMC)",
        )
    if not isinstance(document, dict):
        raise EnvelopeError(BAD_REQUEST, "thân yêu cầu phải là đối tượng JSON / body must be a JSON object")
    service = _service(document.get("service"))
    data = document.get("data")
    if not isinstance(data, list):
        raise EnvelopeError(BAD_REQUEST, "data: phải là mảng / must be an array")
    if service is Service.PROGRESS and document.get("isUpdating") is not None:
        raise EnvelopeError(BAD_REQUEST, "isUpdating: chỉ dùng với DongBoHoSoMC / only on DongBoHoSoMC")
    session = document.get("session")
    if session is not None and not isinstance(session, str):
        raise EnvelopeError(BAD_REQUEST, "session: phải là chuỗi / must be a string")
    return SyncRequest(service, data, _unit(document.get("madonvi"), "madonvi"), session or None,
                       _flag(document.get("isUpdating")))  # fmt: skip


def read_bare(document: Any, service_name: str, query: Mapping[str, str]) -> SyncRequest:
    """A bare array (TD gateway) or the query-string variant (Hà Giang). An envelope posted to the
    per-service URL is read as an envelope, provided it names the same service."""
    service = _service(service_name)
    if isinstance(document, dict):
        request = read_envelope(document)
        if request.service is not service:
            raise EnvelopeError(
                BAD_REQUEST,
                f"service: {request.service.value} gửi tới đường dẫn của "
                f"{service.value} / posted to the {service.value} URL",
            )
        return request
    if not isinstance(document, list):
        raise EnvelopeError(BAD_REQUEST, "thân yêu cầu phải là mảng JSON / body must be a JSON array")
    unit = query.get("MaDinhDanhDV") or query.get("madonvi")
    flag = query.get("isUpdating")
    if service is Service.PROGRESS and flag is not None:
        raise EnvelopeError(BAD_REQUEST, "isUpdating: chỉ dùng với DongBoHoSoMC / only on DongBoHoSoMC")
    return SyncRequest(service, document, _unit(unit, "MaDinhDanhDV"), None, _flag(flag))


def _service(value: Any) -> Service:
    service = SERVICES.get(value) if isinstance(value, str) else None
    if service is None:
        raise EnvelopeError(BAD_REQUEST, f"service: phải là một trong / must be one of {', '.join(SERVICES)}")
    return service


def _unit(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_UNIT or "\x00" in value:
        raise EnvelopeError(BAD_REQUEST, f"{where}: mã định danh không hợp lệ / not a unit identifier")
    return value.strip()


def _flag(value: Any) -> bool | None:
    """isUpdating is the string "True" or "False" (C#'s bool.ToString()); JSON booleans are taken too."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise EnvelopeError(BAD_REQUEST, 'isUpdating: phải là "True" hoặc "False" / must be "True" or "False"')
