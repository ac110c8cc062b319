"""``silent_source``: a province that sent no data of a stream for too long, in WORKING time.

"No dossier events from Hà Nội for 2 working hours": the silence is measured with the working
calendar, so a Saturday, a Sunday or a public holiday (Quốc khánh 2/9, the Tết days) with no data
is not a silence — offices are closed — while two office hours on a Monday morning are.
Only provinces heard from within the rule's look-back are watched (the shell reads them), so a
province that never sent anything is "not connected", not "silent".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Protocol

from alerts.day_format import format_decimal_en, format_decimal_vi
from alerts.model import Signal
from alerts.rulebook.spec import SilentSourceParams
from alerts.rules import format_datetime_vi

__all__ = ["LastHeard", "WorkingSeconds", "silent_source_signals"]

STREAM_VI = {"dossier": "hồ sơ thủ tục hành chính", "payout": "chi trả an sinh xã hội", "id_issuance": "cấp căn cước"}
STREAM_EN = {"dossier": "dossier events", "payout": "payout reports", "id_issuance": "ID-issuance reports"}


class WorkingSeconds(Protocol):
    def working_seconds_between(self, start: datetime, end: datetime) -> int: ...


@dataclass(frozen=True)
class LastHeard:
    """When data of the stream last arrived (ingested) from one province."""

    province_code: str
    province_name: str
    last_at: datetime


def silent_source_signals(
    rule_id: str, p: SilentSourceParams, heard: Iterable[LastHeard], now: datetime, calendar: WorkingSeconds
) -> list[Signal]:
    limit = int(p.silent_for.total_seconds())
    signals = []
    for h in heard:
        silent = calendar.working_seconds_between(h.last_at, now) if h.last_at < now else 0
        if silent < limit:
            continue
        hours = Fraction(silent, 3600)
        hours_vi, hours_en = format_decimal_vi(hours), format_decimal_en(hours)
        signals.append(
            Signal.for_labels(
                rule_id, p.severity, silent / 3600,
                summary_vi=f"{h.province_name}: không nhận được dữ liệu {STREAM_VI[p.stream]} trong "
                f"{hours_vi} giờ làm việc (lần cuối {format_datetime_vi(h.last_at)})",
                summary_en=f"{h.province_name}: no {STREAM_EN[p.stream]} for {hours_en} working hours "
                f"(last at {h.last_at.isoformat()})",
                details={"locality_name": h.province_name, "last_at": h.last_at.isoformat(),
                         "silent_working_seconds": silent, "silent_for_seconds": limit},
                stream=p.stream, province_code=h.province_code,
            )
        )  # fmt: skip
    return signals
