"""Alert rows as the live feed sends them: the columns, the queries, and the wire form.

Alerts carry a province, a commune, an agency and (since the alerting issue) a sector, so a
sector-restricted scope sees the alerts of its sectors; an alert without a sector is an aggregate
over sectors and stays outside such a scope (the strict rule of ioc/auth/scope.py). The wire form
also carries what people did to the alert (acknowledged, assigned, snoozed, resolved by hand), so
screens and the phone page show it without asking for the alert's detail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ioc.auth.scope import Scope, scope_filter_sql

ALERT_COLUMNS = (
    "id, rule_id, severity, state, summary_vi, summary_en, province_code, commune_code, agency_code, "
    "value, active_since, fired_at, resolved_at, updated_at, "
    "sector_code, stream, source, acknowledged_at, acknowledged_by, assignee, snoozed_until, resolved_by, flapping"
)
_NAMES = tuple(c.strip() for c in ALERT_COLUMNS.split(","))
_TIMES = ("active_since", "fired_at", "resolved_at", "updated_at", "acknowledged_at", "snoozed_until")
SELECT_ALERTS_BY_ID = f"SELECT {ALERT_COLUMNS} FROM alert WHERE id = ANY(%s)"
# The snapshot holds every open alert (screens count them) plus the latest resolutions, so a
# screen sees alerts clear without loading a day of history.
SELECT_RECENT_ALERTS = f"""
(SELECT {ALERT_COLUMNS} FROM alert WHERE state <> 'resolved')
UNION ALL
(SELECT {ALERT_COLUMNS} FROM alert
 WHERE state = 'resolved' AND resolved_at > %s - INTERVAL '1 day'
 ORDER BY resolved_at DESC LIMIT 200)
"""
# The scope filter over the alert table's columns (its sector column is `sector_code`).
ALERT_SCOPE = scope_filter_sql(sector="sector_code")
# The same for a scope, filtered before the limit so a small scope still gets its 200 latest.
SELECT_RECENT_ALERTS_IN_SCOPE = f"""
(SELECT {ALERT_COLUMNS} FROM alert WHERE state <> 'resolved' AND {ALERT_SCOPE})
UNION ALL
(SELECT {ALERT_COLUMNS} FROM alert
 WHERE state = 'resolved' AND resolved_at > %(now)s - INTERVAL '1 day' AND {ALERT_SCOPE}
 ORDER BY resolved_at DESC LIMIT 200)
"""


def alert_row_to_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(_NAMES, row, strict=True))
    for key in _TIMES:
        if isinstance(out[key], datetime):
            out[key] = out[key].isoformat()
    return out


def alert_in_scope(scope: Scope, alert: dict[str, Any]) -> bool:
    """The Python twin of ALERT_SCOPE."""
    return scope.allows(alert["province_code"], alert["commune_code"], alert["agency_code"], alert.get("sector_code"))
