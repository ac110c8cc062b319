"""What a screen shows of alerts: counts by severity and locality, and the first page of the queue.

A national snapshot once carried every open alert (3 MB on the demo); a screen shows forty and a
few counts. So a snapshot carries `alert_counts` and the first `ALERT_PAGE` alerts of the queue in
the dashboard's order (firing, pending, then resolved; critical first; newest first); the rest is
paged over REST (`GET /api/v1/alerts`; ioc/live/alert_queue.py reads both). Deltas still carry
every changed alert in scope (`alert:<id>`) and, when they move, the scope's counts (`alert_counts`).

The feed keeps an `AlertIndex` of every open alert (a few facts each, not the row) so counts are
derived in memory for every view after a change, and so a catch-up after a LISTEN outage can tell
which alerts changed while nobody listened (by a fingerprint of the row).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ioc.auth.scope import Scope
from ioc.live.alerts import ALERT_COLUMNS, ALERT_SCOPE

ALERT_PAGE = 50
OPEN_STATES = ("firing", "pending")
SEVERITIES = ("critical", "warning", "info")
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_STATE_RANK = {"firing": 0, "pending": 1, "resolved": 2}

SELECT_OPEN_COUNTS = f"""
SELECT severity, state, province_code, commune_code, count(*)::int FROM alert
WHERE state <> 'resolved' AND {ALERT_SCOPE}
GROUP BY 1, 2, 3, 4
"""
# After a LISTEN outage: every open alert, the ones the feed knew open (they may have closed), and
# those resolved since the feed last read (they may have opened and closed meanwhile).
SELECT_CATCH_UP = f"""
SELECT {ALERT_COLUMNS} FROM alert
WHERE state <> 'resolved' OR id = ANY(%(known)s) OR resolved_at >= %(since)s
"""


@dataclass(frozen=True)
class AlertFacts:
    """What counting and routing an alert needs, without its text."""

    id: int
    severity: str
    state: str
    province_code: str | None
    commune_code: str | None
    agency_code: str | None
    sector_code: str | None
    fingerprint: int

    @classmethod
    def of(cls, alert: dict[str, Any]) -> AlertFacts:
        return cls(
            int(alert["id"]), str(alert["severity"]), str(alert["state"]), alert["province_code"],
            alert["commune_code"], alert["agency_code"], alert.get("sector_code"),
            hash(tuple(sorted((k, str(v)) for k, v in alert.items()))),
        )  # fmt: skip

    def allowed(self, scope: Scope) -> bool:
        return scope.allows(self.province_code, self.commune_code, self.agency_code, self.sector_code)


class AlertIndex:
    """The open alerts the feed last read, by id and by province (None: no province)."""

    def __init__(self) -> None:
        self._by_id: dict[int, AlertFacts] = {}
        self._by_province: dict[str | None, dict[int, AlertFacts]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, alert_id: int) -> AlertFacts | None:
        return self._by_id.get(alert_id)

    def known_ids(self) -> list[int]:
        return list(self._by_id)

    def update(self, alert: dict[str, Any]) -> bool:
        """Record an alert as read now; whether it differs from what was known (a new one does)."""
        facts = AlertFacts.of(alert)
        old = self._by_id.pop(facts.id, None)
        if old is not None:
            self._by_province.get(old.province_code, {}).pop(old.id, None)
        if facts.state != "resolved":
            self._by_id[facts.id] = facts
            self._by_province.setdefault(facts.province_code, {})[facts.id] = facts
            return old is None or old.fingerprint != facts.fingerprint
        # A resolution is news unless the feed had never seen the alert open (an old one re-read).
        return old is not None

    def forget_missing(self, seen: set[int]) -> list[int]:
        """Drop known alerts that a full read no longer returns (deleted); their ids."""
        gone = [i for i in self._by_id if i not in seen]
        for alert_id in gone:
            facts = self._by_id.pop(alert_id)
            self._by_province.get(facts.province_code, {}).pop(alert_id, None)
        return gone

    def facts_in(self, provinces: frozenset[str] | None) -> Iterable[AlertFacts]:
        if provinces is None:
            return self._by_id.values()
        return (f for p in provinces for f in self._by_province.get(p, {}).values())


# --------------------------------------------------------------------------- pure


def fold_counts(rows: Iterable[tuple[str, str, str | None, str | None, int]], *, with_communes: bool) -> dict[str, Any]:
    """(severity, state, province, commune, n) rows of open alerts → the `alert_counts` payload."""
    totals = dict.fromkeys(OPEN_STATES, 0)
    by_severity: dict[str, dict[str, int]] = {s: dict.fromkeys(OPEN_STATES, 0) for s in SEVERITIES}
    by_province: dict[str, dict[str, int]] = {}
    by_commune: dict[str, dict[str, int]] = {}
    for severity, state, province, commune, n in rows:
        if state not in totals:
            continue
        totals[state] += n
        by_severity.setdefault(severity, dict.fromkeys(OPEN_STATES, 0))[state] += n
        if province:
            by_province.setdefault(province, dict.fromkeys(OPEN_STATES, 0))[state] += n
        if with_communes and commune:
            by_commune.setdefault(commune, dict.fromkeys(OPEN_STATES, 0))[state] += n
    out: dict[str, Any] = {**totals, "by_severity": by_severity, "by_province": dict(sorted(by_province.items()))}
    if with_communes:
        out["by_commune"] = dict(sorted(by_commune.items()))
    return out


def counts_for(scope: Scope, facts: Iterable[AlertFacts], *, with_communes: bool) -> dict[str, Any]:
    """The same payload from the index, for one scope."""
    return fold_counts(
        ((f.severity, f.state, f.province_code, f.commune_code, 1) for f in facts if f.allowed(scope)),
        with_communes=with_communes,
    )


def queue_order(alert: dict[str, Any]) -> tuple[int, int, float, int]:
    """The dashboard's queue order as a sort key (frontend/static/dashboard.js alertOrder)."""
    at = alert.get("resolved_at") or alert.get("fired_at") or alert.get("active_since") or ""
    stamp = datetime.fromisoformat(at).timestamp() if isinstance(at, str) and at else 0.0
    return (
        _STATE_RANK.get(str(alert["state"]), 3), _SEVERITY_RANK.get(str(alert["severity"]), 3), -stamp, int(alert["id"])
    )  # fmt: skip


def first_page(alerts: Iterable[dict[str, Any]], page: int = ALERT_PAGE) -> list[dict[str, Any]]:
    return sorted(alerts, key=queue_order)[:page]
