"""Durations in rule specs: Prometheus-style strings ("90s", "15m", "2h", "1d", "1h30m") or seconds.

Written back in the shortest canonical form, so a spec read from YAML and written to JSON reads
the same ("1h30m", never "5400s").
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_PART = re.compile(r"(\d{1,6})([dhms])")
_WHOLE = re.compile(r"^(?:\d{1,6}[dhms])+$")
MAX_SECONDS = 366 * 86_400


class DurationError(ValueError):
    """Not a duration this module can read."""


def parse_duration(value: object) -> timedelta:
    """A non-negative duration from ``"1h30m"``-style text or a whole number of seconds."""
    if isinstance(value, bool):
        raise DurationError("not a duration")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        text = value.strip()
        if text == "0":
            seconds = 0
        elif not _WHOLE.match(text):
            raise DurationError("not a duration")
        else:
            seen: set[str] = set()
            seconds = 0
            for amount, unit in _PART.findall(text):
                if unit in seen:
                    raise DurationError("unit repeated")
                seen.add(unit)
                seconds += int(amount) * dict(_UNITS)[unit]
    else:
        raise DurationError("not a duration")
    if not 0 <= seconds <= MAX_SECONDS:
        raise DurationError("out of range")
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` → ``"1h30m"``; zero → ``"0s"``."""
    seconds = int(span.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
