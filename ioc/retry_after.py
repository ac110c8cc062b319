"""The Retry-After header (RFC 9110 §10.2.3) as seconds from now. Pure: the clock may be passed in.
Shared by the source pollers (ingest/connector) and the notification senders (alerts/delivery)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Delta-seconds ("120") or an HTTP date; None if absent or unusable; never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
