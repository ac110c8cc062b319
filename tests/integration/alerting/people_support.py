"""Seeding alerts and reading their history straight from the test database (sync psycopg)."""

from __future__ import annotations

import itertools
from typing import Any

import psycopg

_n = itertools.count()


def seed_alert(
    db_url: str,
    province: str = "01",
    *,
    state: str = "firing",
    sector: str | None = None,
    severity: str = "critical",
    summary: str | None = None,
) -> int:
    """One alert row as the engine would write it, with a transition to its state."""
    marker = next(_n)
    summary_vi = summary or f"Hồ sơ quá hạn tại tỉnh {province} (#{marker})"
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO alert (rule_id, fingerprint, labels, severity, state, province_code, sector_code, stream,"
            " value, summary_vi, summary_en, active_since, fired_at, updated_at)"
            " VALUES ('overdue', %s, '{}', %s, %s, %s, %s, 'dossier', 7, %s, %s,"
            " now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour') RETURNING id",
            [f"people-{marker}", severity, state, province, sector, summary_vi, f"Overdue dossiers #{marker}"],
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO alert_transition (alert_id, from_state, to_state, at, value, summary_vi)"
            " VALUES (%s, NULL, %s, now() - interval '1 hour', 7, %s)",
            [row[0], state, summary_vi],
        )
    return int(row[0])


def fetch_one(db_url: str, query: str, params: list[Any] | None = None) -> Any:
    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchone()


def fetch_all(db_url: str, query: str, params: list[Any] | None = None) -> list[Any]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchall()


def activity_kinds(db_url: str, alert_id: int) -> list[str]:
    return [
        r[0] for r in fetch_all(db_url, "SELECT kind FROM alert_activity WHERE alert_id = %s ORDER BY id", [alert_id])
    ]
