"""Alertmanager-format items → IOC alerts: mapping, fingerprints and every rejection reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.interop.postable import (
    RESOLVE_TIMEOUT,
    ExternalAlert,
    ParseContext,
    Rejection,
    am_fingerprint,
    parse_item,
    severity_of,
)
from alerts.model import Severity
from ioc.auth.scope import Scope
from ioc.localities.catalogue import load_catalogue

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CATALOGUE = load_catalogue()
NATIONAL = ParseContext(now=NOW, catalogue=CATALOGUE, scope=Scope.everything())
HANOI_ONLY = ParseContext(now=NOW, catalogue=CATALOGUE, scope=Scope.from_dict({"provinces": ["01"]}))


def item(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "labels": {"alertname": "DiskFull", "severity": "critical", "province_code": "01", "instance": "db1:9100"},
        "annotations": {"summary": "Disk full on db1", "summary_vi": "Đầy ổ đĩa trên db1", "value": "97.5"},
        "startsAt": "2025-03-03T08:59:00.123456789Z",
        "endsAt": "2025-03-03T09:04:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
    }
    base.update(overrides)
    return base


def test_fingerprint_is_alertmanagers() -> None:
    # Read back from prometheus-alertmanager 0.25 (Debian) after posting the same labels.
    labels = {"alertname": "Test", "severity": "critical", "province_code": "01", "note": "Hà Nội ✓"}
    assert am_fingerprint(labels) == "1367e718e4dcf799"
    assert am_fingerprint(dict(reversed(list(labels.items())))) == "1367e718e4dcf799"


def test_a_prometheus_item_maps_onto_an_ioc_alert() -> None:
    alert = parse_item(item(), NATIONAL)
    assert isinstance(alert, ExternalAlert)
    assert alert.rule_id == "am:DiskFull"
    assert alert.severity is Severity.CRITICAL
    assert alert.labels == {"alertname": "DiskFull", "severity": "critical", "province_code": "01",
                            "instance": "db1:9100", "rule": "am:DiskFull", "stream": "external"}  # fmt: skip
    assert (alert.province_code, alert.commune_code, alert.stream) == ("01", None, "external")
    assert (alert.summary_vi, alert.summary_en, alert.value) == ("Đầy ổ đĩa trên db1", "Disk full on db1", 97.5)
    assert alert.starts_at == datetime(2025, 3, 3, 8, 59, 0, 123456, tzinfo=UTC)
    assert alert.ends_at == datetime(2025, 3, 3, 9, 4, tzinfo=UTC) and not alert.resolved(NOW)
    assert alert.fingerprint == am_fingerprint(item()["labels"])
    assert alert.details["generator_url"].startswith("http://prometheus")


def test_defaults_when_fields_are_missing() -> None:
    alert = parse_item({"labels": {"alertname": "Up"}}, NATIONAL)
    assert isinstance(alert, ExternalAlert)
    assert (alert.starts_at, alert.ends_at) == (NOW, NOW + RESOLVE_TIMEOUT)
    assert (alert.severity, alert.summary_en, alert.summary_vi, alert.province_code) == (
        Severity.WARNING, "Up", "Up", None,
    )  # fmt: skip


def test_given_stream_and_commune_labels_are_kept_and_the_province_derived() -> None:
    alert = parse_item(item(labels={"alertname": "X", "commune_code": "00004", "stream": "payout",
                                    "agency_code": "SO-TC", "sector": "tai-chinh"}), HANOI_ONLY)  # fmt: skip
    assert isinstance(alert, ExternalAlert)
    assert (alert.province_code, alert.commune_code, alert.agency_code, alert.sector_code, alert.stream) == (
        "01", "00004", "SO-TC", "tai-chinh", "payout",
    )  # fmt: skip
    assert alert.labels["province_code"] == "01"


def test_endsat_in_the_past_is_a_resolution() -> None:
    alert = parse_item(item(endsAt="2025-03-03T08:59:30Z"), NATIONAL)
    assert isinstance(alert, ExternalAlert) and alert.resolved(NOW)


@pytest.mark.parametrize(("value", "expected"), [
    ("critical", Severity.CRITICAL), ("Page", Severity.CRITICAL), ("high", Severity.CRITICAL),
    ("warning", Severity.WARNING), ("minor", Severity.WARNING), ("whatever", Severity.WARNING),
    (None, Severity.WARNING), ("info", Severity.INFO), (" informational ", Severity.INFO),
])  # fmt: skip
def test_severity_mapping(value: str | None, expected: Severity) -> None:
    assert severity_of(value) is expected


@pytest.mark.parametrize(("raw", "reason", "status"), [
    ("not an object", "not_an_object", 400),
    ({"annotations": {}}, "invalid_labels", 400),
    ({"labels": []}, "invalid_labels", 400),
    ({"labels": {}}, "invalid_labels", 400),
    ({"labels": {"alertname": ""}}, "invalid_labels", 400),  # empty value = no label
    ({"labels": {f"l{i}": "x" for i in range(65)}}, "invalid_labels", 400),
    ({"labels": {"severity": "critical"}}, "missing_alertname", 422),
    ({"labels": {"alertname": "A", "bad-name": "x"}}, "invalid_label_name", 400),
    ({"labels": {"alertname": "A", "9lives": "x"}}, "invalid_label_name", 400),
    ({"labels": {"alertname": "A", "n": 3}}, "invalid_label_value", 400),
    ({"labels": {"alertname": "A", "n": "a\x00b"}}, "invalid_label_value", 400),
    ({"labels": {"alertname": "A", "n": "x" * 1025}}, "invalid_label_value", 400),
    ({"labels": {"alertname": "A"}, "annotations": "text"}, "invalid_annotations", 400),
    ({"labels": {"alertname": "A"}, "annotations": {"summary": None}}, "invalid_annotation_value", 400),
    ({"labels": {"alertname": "A"}, "startsAt": "yesterday"}, "invalid_timestamp", 400),
    ({"labels": {"alertname": "A"}, "startsAt": "2025-03-03T08:00:00"}, "invalid_timestamp", 400),  # no zone
    ({"labels": {"alertname": "A"}, "endsAt": 1700000000}, "invalid_timestamp", 400),
    ({"labels": {"alertname": "A"}, "startsAt": "1969-12-31T23:59:59Z"}, "invalid_timestamp", 400),
    ({"labels": {"alertname": "A"}, "startsAt": "2025-03-03T09:10:00Z"}, "starts_in_future", 422),
    ({"labels": {"alertname": "A"}, "startsAt": "2025-03-03T08:00:00Z", "endsAt": "2025-03-03T07:00:00Z"},
     "ends_before_start", 422),
    ({"labels": {"alertname": "A"}, "generatorURL": 5}, "invalid_generator_url", 400),
    ({"labels": {"alertname": "A", "province_code": "99"}}, "unknown_locality", 422),
    ({"labels": {"alertname": "A", "province_code": "00004"}}, "unknown_locality", 422),
    ({"labels": {"alertname": "A", "commune_code": "01"}}, "unknown_locality", 422),
    ({"labels": {"alertname": "A", "province_code": "79", "commune_code": "00004"}}, "locality_mismatch", 422),
])  # fmt: skip
def test_rejections(raw: object, reason: str, status: int) -> None:
    result = parse_item(raw, NATIONAL)
    assert isinstance(result, Rejection), result
    assert (result.reason, result.http_status) == (reason, status)
    assert " / " in result.message  # Vietnamese first, English second


def test_future_start_within_tolerance_is_clamped_to_now() -> None:
    alert = parse_item(item(startsAt=(NOW + timedelta(minutes=2)).isoformat()), NATIONAL)
    assert isinstance(alert, ExternalAlert) and alert.starts_at == NOW


@pytest.mark.parametrize(("labels", "ok"), [
    ({"alertname": "A", "province_code": "01"}, True),
    ({"alertname": "A", "commune_code": "00004"}, True),
    ({"alertname": "A", "province_code": "79"}, False),
    ({"alertname": "A", "commune_code": "25747"}, False),
    ({"alertname": "A"}, False),  # no locality: a national key only
])  # fmt: skip
def test_scope_of_the_source_key(labels: dict[str, str], ok: bool) -> None:
    result = parse_item({"labels": labels}, HANOI_ONLY)
    if ok:
        assert isinstance(result, ExternalAlert)
    else:
        assert isinstance(result, Rejection) and (result.reason, result.http_status) == ("locality_out_of_scope", 403)
