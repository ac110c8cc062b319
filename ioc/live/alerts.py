"""Alert rows as the live feed sends them: the columns, the queries, and the wire form.

Alerts carry a province, a commune and an agency but no sector. Under the strict scope rule
(ioc/auth/scope.py) a row without a sector is outside any scope that names sectors, so a
sector-restricted principal sees no alerts at all until alerts gain a sector.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ioc.auth.scope import Scope, scope_filter_sql

ALERT_COLUMNS = (
    "id, rule_id, severity, state, summary_vi, summary_en, province_code, commune_code, agency_code, "
    "value, active_since, fired_at, resolved_at, updated_at"
)
_NAMES = tuple(c.strip() for c in ALERT_COLUMNS.split(","))
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
# The same for a scope, filtered before the limit so a small scope still gets its 200 latest.
_IN_SCOPE = scope_filter_sql(sector=None)
SELECT_RECENT_ALERTS_IN_SCOPE = f"""
(SELECT {ALERT_COLUMNS} FROM alert WHERE state <> 'resolved' AND {_IN_SCOPE})
UNION ALL
(SELECT {ALERT_COLUMNS} FROM alert
 WHERE state = 'resolved' AND resolved_at > %(now)s - INTERVAL '1 day' AND {_IN_SCOPE}
 ORDER BY resolved_at DESC LIMIT 200)
"""


def alert_row_to_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(_NAMES, row, strict=True))
    for key in ("active_since", "fired_at", "resolved_at", "updated_at"):
        if isinstance(out[key], datetime):
            out[key] = out[key].isoformat()
    return out


def alert_in_scope(scope: Scope, alert: dict[str, Any]) -> bool:
    """The Python twin of SELECT_RECENT_ALERTS_IN_SCOPE's filter (no sector: see the module doc)."""
    return scope.allows(alert["province_code"], alert["commune_code"], alert["agency_code"], None)
