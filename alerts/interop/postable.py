"""Alertmanager API v2 "postable alerts", checked and turned into IOC alerts. Pure: no I/O.

Prometheus posts a JSON array of ``{labels, annotations, startsAt, endsAt, generatorURL}`` to
every Alertmanager it knows, after each rule evaluation and again every resend delay (1 min) while
an alert fires; ``endsAt`` is a few evaluation intervals ahead for a firing alert and the moment
it cleared for a resolved one (sent for 15 min after). Each item is checked on its own: a bad
item is rejected with a precise reason and HTTP-like status, the rest of the batch goes through.

Mapping to the ``alert`` table (source = 'alertmanager'):
  rule_id      'am:' + alertname (rules as data are ``^[a-z][a-z0-9_]+$``, so never clash)
  labels       as posted, plus ``rule`` and ``stream='external'`` unless given, ``severity``
               normalised to info|warning|critical (the posted labels are kept in details)
  columns      province_code, commune_code, agency_code, sector_code (label ``sector``), stream
  fingerprint  Alertmanager's own: FNV-1a 64 over the posted labels, so a resend, an HA pair of
               Prometheus servers and Alertmanager's UI all name the same alert the same way
  summaries    annotation summary (else description, else alertname); Vietnamese: summary_vi
               if given, else the same text
  times        active_since = startsAt; ends_at = endsAt (absent: now + resolve timeout, as
               Alertmanager does, so an alert nobody resends expires)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.model import Severity
from ioc.auth.scope import Scope
from ioc.localities.catalogue import LocalityCatalogue

SOURCE = "alertmanager"
RULE_PREFIX = "am:"
EXTERNAL_STREAM = "external"
# Alertmanager's default resolve_timeout: an alert posted without endsAt ends this long after.
RESOLVE_TIMEOUT = timedelta(minutes=5)

MAX_LABELS = 64
MAX_ANNOTATIONS = 64
MAX_NAME_CHARS = 128
MAX_LABEL_VALUE_CHARS = 1024
MAX_ANNOTATION_CHARS = 8192
MAX_URL_CHARS = 2048
MAX_TIMESTAMP_CHARS = 64
# Prometheus' label-name grammar (what Alertmanager 0.25 validates).
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

# Severity label values seen in the wild, mapped onto IOC's three; anything else is a warning.
_SEVERITY_WORDS: dict[str, Severity] = {
    **dict.fromkeys(("info", "informational", "information", "notice", "low", "none", "ok"), Severity.INFO),
    **dict.fromkeys(("warning", "warn", "minor", "medium", "moderate"), Severity.WARNING),
    **dict.fromkeys(
        ("critical", "crit", "high", "major", "page", "error", "severe", "emergency", "fatal", "disaster"),
        Severity.CRITICAL,
    ),
}

# FNV-1a 64 as Prometheus' common/model computes label-set fingerprints.
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF


def am_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set, as its API prints it (16 hex digits)."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def severity_of(value: str | None) -> Severity:
    if value is None:
        return Severity.WARNING
    return _SEVERITY_WORDS.get(value.strip().lower(), Severity.WARNING)


@dataclass(frozen=True)
class Rejection:
    """Why one posted item was refused; ``http_status`` is what Alertmanager-style clients expect."""

    reason: str
    message: str
    http_status: int = 400


@dataclass(frozen=True)
class ExternalAlert:
    """One accepted posted alert, ready for the store."""

    fingerprint: str
    rule_id: str
    labels: dict[str, str]
    severity: Severity
    province_code: str | None
    commune_code: str | None
    agency_code: str | None
    sector_code: str | None
    stream: str
    value: float
    summary_vi: str
    summary_en: str
    starts_at: datetime
    ends_at: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def resolved(self, now: datetime) -> bool:
        return self.ends_at <= now


@dataclass(frozen=True)
class ParseContext:
    now: datetime
    catalogue: LocalityCatalogue
    scope: Scope
    future_tolerance: timedelta = timedelta(minutes=5)


def parse_item(item: object, ctx: ParseContext) -> ExternalAlert | Rejection:
    """Check one posted item and map it; a Rejection says precisely what is wrong."""
    if not isinstance(item, dict):
        return Rejection("not_an_object", "mỗi cảnh báo phải là một đối tượng JSON / each alert must be a JSON object")
    labels = _string_map(item.get("labels"), "labels", MAX_LABELS, MAX_LABEL_VALUE_CHARS)
    if isinstance(labels, Rejection):
        return labels
    if not labels:
        return Rejection("invalid_labels", "labels không được rỗng / labels must not be empty")
    annotations = _string_map(item.get("annotations", {}), "annotations", MAX_ANNOTATIONS, MAX_ANNOTATION_CHARS)
    if isinstance(annotations, Rejection):
        return annotations
    alertname = labels.get("alertname", "")
    if not alertname:
        return Rejection("missing_alertname", "thiếu nhãn alertname / the alertname label is required", 422)
    starts = _timestamp(item.get("startsAt"), "startsAt")
    ends = _timestamp(item.get("endsAt"), "endsAt")
    for parsed in (starts, ends):
        if isinstance(parsed, Rejection):
            return parsed
    assert not isinstance(starts, Rejection) and not isinstance(ends, Rejection)
    url = item.get("generatorURL")
    if url is not None and not (isinstance(url, str) and len(url) <= MAX_URL_CHARS and "\x00" not in url):
        return Rejection(
            "invalid_generator_url",
            f"generatorURL phải là chuỗi ≤ {MAX_URL_CHARS} ký tự / generatorURL must be a string of at most "
            f"{MAX_URL_CHARS} characters",
        )
    now = ctx.now
    if starts is not None and starts > now + ctx.future_tolerance:
        return Rejection(
            "starts_in_future", "startsAt ở quá xa trong tương lai / startsAt is too far in the future", 422
        )
    starts_at = min(starts, now) if starts is not None else now
    ends_at = ends if ends is not None else now + RESOLVE_TIMEOUT
    if ends is not None and starts is not None and ends < starts:
        return Rejection("ends_before_start", "endsAt trước startsAt / endsAt is before startsAt", 422)
    place = _locality(labels, ctx)
    if isinstance(place, Rejection):
        return place
    province, commune = place
    agency, sector = labels.get("agency_code"), labels.get("sector")
    if not ctx.scope.allows(province, commune, agency, sector):
        return Rejection("locality_out_of_scope", "ngoài phạm vi của khóa nguồn / outside this source key's scope", 403)
    severity = severity_of(labels.get("severity"))
    rule_id = RULE_PREFIX + alertname
    stored = {**labels, "severity": severity.value}
    stored.setdefault("rule", rule_id)
    stored.setdefault("stream", EXTERNAL_STREAM)
    if province and "province_code" not in stored:
        stored["province_code"] = province
    summary_en = annotations.get("summary") or annotations.get("description") or alertname
    summary_vi = annotations.get("summary_vi") or summary_en
    details: dict[str, Any] = {"posted_labels": labels, "annotations": annotations}
    if url:
        details["generator_url"] = url
    return ExternalAlert(
        fingerprint=am_fingerprint(labels), rule_id=rule_id, labels=stored, severity=severity,
        province_code=province, commune_code=commune, agency_code=agency, sector_code=sector,
        stream=stored["stream"], value=_value(annotations.get("value")), summary_vi=summary_vi,
        summary_en=summary_en, starts_at=starts_at, ends_at=ends_at, details=details,
    )  # fmt: skip


# --------------------------------------------------------------------------- helpers


def _string_map(raw: object, what: str, max_items: int, max_value: int) -> dict[str, str] | Rejection:
    reason = f"invalid_{what}"
    if raw is None and what == "annotations":
        return {}
    if not isinstance(raw, dict):
        return Rejection(reason, f"{what} phải là đối tượng tên → chuỗi / {what} must be an object of strings")
    if len(raw) > max_items:
        return Rejection(reason, f"{what}: tối đa {max_items} mục / at most {max_items} entries")
    out: dict[str, str] = {}
    for name, value in raw.items():
        if not (len(name) <= MAX_NAME_CHARS and LABEL_NAME.fullmatch(name)):
            return Rejection(f"invalid_{what[:-1]}_name", f"tên không hợp lệ trong {what} / invalid name in {what}: "
                                                          f"{name[:MAX_NAME_CHARS]!r}")  # fmt: skip
        if not isinstance(value, str) or len(value) > max_value or "\x00" in value:
            return Rejection(
                f"invalid_{what[:-1]}_value",
                f"{what}.{name}: phải là chuỗi ≤ {max_value} ký tự, không có NUL / must be a string of at most "
                f"{max_value} characters without NUL",
            )
        if value:  # an empty label value is the same as no label (Prometheus semantics)
            out[name] = value
    return out


def _timestamp(raw: object, what: str) -> datetime | Rejection | None:
    if raw is None:
        return None
    bad = Rejection("invalid_timestamp", f"{what} phải là thời điểm RFC 3339 có múi giờ / {what} must be an RFC 3339 "
                                         "timestamp with a time zone")  # fmt: skip
    if not isinstance(raw, str) or len(raw) > MAX_TIMESTAMP_CHARS or "T" not in raw.upper():
        return bad
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return bad
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return bad
    if parsed.year <= 1:  # Go's zero time: "not set"
        return None
    parsed = parsed.astimezone(UTC)
    if parsed < EARLIEST:
        return Rejection("invalid_timestamp", f"{what} trước 1970 / {what} is before 1970")
    return parsed


def _locality(labels: Mapping[str, str], ctx: ParseContext) -> tuple[str | None, str | None] | Rejection:
    province, commune = labels.get("province_code"), labels.get("commune_code")
    catalogue = ctx.catalogue
    if province is not None:
        unit = catalogue.get(province)
        if unit is None or unit.level != "province":
            return Rejection("unknown_locality", f"không có tỉnh mã {province!r} / no province {province!r}", 422)
    if commune is not None:
        unit = catalogue.get(commune)
        if unit is None or unit.level == "province":
            return Rejection("unknown_locality", f"không có xã mã {commune!r} / no commune {commune!r}", 422)
        if province is not None and unit.province_code != province:
            return Rejection("locality_mismatch", f"xã {commune} không thuộc tỉnh {province} / commune {commune} is "
                                                  f"not in province {province}", 422)  # fmt: skip
        province = unit.province_code
    return province, commune


def _value(raw: str | None) -> float:
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0
