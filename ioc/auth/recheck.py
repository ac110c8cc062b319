"""Many presented credentials checked again at once: one SQL statement for every session, access
token and display token among them (the live path re-checks its connected clients this way).

The answers are those `principal_for` gives one by one (the same pure builders make the
principals), including the side effect: a display token still valid has its `last_seen_at`
written, at most once a minute, by the same statement. Credentials that need no table lookup or
another table (an OIDC JWT, a source key) are rare on the live path and go through
`principal_for` one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ioc.auth.accounts import USER_COLUMNS, TokenRecord, User
from ioc.auth.credentials import digest, kind_of
from ioc.auth.displays import DISPLAY_COLUMNS, Display
from ioc.auth.principal import Principal
from ioc.auth.resolve import Presented, Unauthenticated, display_principal, principal_for, token_principal
from ioc.db.pool import Conn

if TYPE_CHECKING:
    from ioc.auth.oidc import OidcVerifier

_USER = ", ".join("u." + c.strip() for c in USER_COLUMNS.split(","))
_DISPLAY = ", ".join("d." + c.strip() for c in DISPLAY_COLUMNS.split(","))
_N_USER = len(USER_COLUMNS.split(","))
_N_DISPLAY = len(DISPLAY_COLUMNS.split(","))
# Token rows carry NULL display columns and display rows NULL token columns, so both kinds come
# back from one statement. The data-modifying CTE runs whether or not it is read; the SELECT sees
# the rows as they were before it (only last_seen_at changes, which no answer depends on).
SELECT_CREDENTIALS = f"""
WITH seen AS (
    UPDATE display_token SET last_seen_at = now()
    WHERE token_sha256 = ANY(%(displays)s::text[]) AND revoked_at IS NULL
      AND (last_seen_at IS NULL OR last_seen_at < now() - INTERVAL '1 minute')
    RETURNING id
)
SELECT t.token_sha256, t.kind, t.family, t.expires_at, t.revoked_at, {_USER},
       {", ".join(["NULL"] * _N_DISPLAY)}
FROM auth_token t JOIN app_user u ON u.id = t.user_id
WHERE t.token_sha256 = ANY(%(tokens)s::text[])
UNION ALL
SELECT d.token_sha256, 'display', NULL, NULL, NULL, {", ".join(["NULL"] * _N_USER)}, {_DISPLAY}
FROM display_token d
WHERE d.token_sha256 = ANY(%(displays)s::text[])
"""
# (Each NULL column of a branch takes its type from the other branch: PostgreSQL resolves the
# UNION's column types across both.)


def _answer(presented: Presented, kind: str, row: tuple[Any, ...] | None, now: datetime) -> Principal | None:
    """What `principal_for` decides for one credential, given its row (pure)."""
    if kind == "display":
        display = Display.from_row(row[5 + _N_USER :]) if row is not None else None
        return display_principal(display, presented)
    record = None
    if row is not None:
        record = TokenRecord(row[1], row[2], row[3], row[4], User.from_row(row[5 : 5 + _N_USER]))
    return token_principal(record, kind, presented, now)


async def principals_for_all(
    conn: Conn, presented: Sequence[Presented], now: datetime, oidc: OidcVerifier | None = None
) -> list[Principal | None]:
    """For each credential, the principal it stands for now, or None if it no longer counts
    (unknown, expired, revoked, disabled, or presented where it does not count)."""
    kinds = [kind_of(p.value) for p in presented]
    digests = [digest(p.value) for p in presented]
    tokens = sorted({d for d, k in zip(digests, kinds, strict=True) if k in ("session", "access")})
    screens = sorted({d for d, k in zip(digests, kinds, strict=True) if k == "display"})
    rows: dict[str, tuple[Any, ...]] = {}
    if tokens or screens:
        cur = await conn.execute(SELECT_CREDENTIALS, {"tokens": tokens, "displays": screens})
        rows = {str(r[0]): r for r in await cur.fetchall()}
    out: list[Principal | None] = []
    for credential, kind, key in zip(presented, kinds, digests, strict=True):
        if kind in ("session", "access", "display"):
            assert kind is not None
            out.append(_answer(credential, kind, rows.get(key), now))
            continue
        try:
            out.append(await principal_for(conn, credential, now, oidc))
        except Unauthenticated:
            out.append(None)
    return out
