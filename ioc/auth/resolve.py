"""From presented credentials to a Principal: one table lookup, chosen by the credential's prefix.

Credentials come from the Authorization header (bearer: an access token, a display token, a source
key or an OIDC JWT), the X-API-Key header (source keys) or the session / display cookies. A
credential that is presented but not valid is an error, never a silent fall-back to another one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ioc.auth import accounts, displays
from ioc.auth.credentials import kind_of
from ioc.auth.policy import Role
from ioc.auth.principal import Principal
from ioc.db.pool import Conn
from ioc.sources import source_for_key

if TYPE_CHECKING:
    from ioc.auth.oidc import OidcVerifier

SESSION_COOKIE = "ioc_session"
DISPLAY_COOKIE = "ioc_display"


class Unauthenticated(Exception):
    """Credentials were presented and are not valid (unknown, expired, revoked, malformed)."""


@dataclass(frozen=True)
class Presented:
    """The credential a request carries, and where it came from."""

    value: str
    where: str  # "bearer", "api-key", "cookie"


def presented_credential(headers: Mapping[str, str], cookies: Mapping[str, str]) -> Presented | None:
    auth = headers.get("authorization", "")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <credential>'")
        return Presented(value.strip(), "bearer")
    if api_key := headers.get("x-api-key"):
        return Presented(api_key.strip(), "api-key")
    for name in (SESSION_COOKIE, DISPLAY_COOKIE):
        if cookie := cookies.get(name):
            return Presented(cookie, "cookie")
    return None


def token_principal(
    record: accounts.TokenRecord | None, kind: str, presented: Presented, now: datetime
) -> Principal | None:
    """The person behind a session or access token's row; None if it does not count (pure).

    A session token only counts from its cookie, an access token only from the header."""
    expected_where = "cookie" if kind == "session" else "bearer"
    if record is None or record.kind != kind or presented.where != expected_where or not record.valid(now):
        return None
    user = record.user
    return Principal(
        subject=f"user:{user.username}", name=user.display_name, role=user.role, scope=user.scope,
        credential="session" if kind == "session" else "access_token",
        credential_id=("cookie:" if kind == "session" else "") + record.family, user_id=user.id,
    )  # fmt: skip


def display_principal(display: displays.Display | None, presented: Presented) -> Principal | None:
    """The wall screen behind a display token's row; None if unknown or revoked (pure)."""
    if display is None or display.revoked_at is not None:
        return None
    return Principal(
        subject=f"display:{display.id}", name=display.screen_name, role=Role.DISPLAY, scope=display.scope,
        credential="display_token", credential_id=("cookie:" if presented.where == "cookie" else "")
        + str(display.id),
    )  # fmt: skip


async def principal_for(conn: Conn, presented: Presented, now: datetime, oidc: OidcVerifier | None = None) -> Principal:
    value = presented.value
    kind = kind_of(value)
    if kind is None and oidc is not None and value.count(".") == 2:
        from ioc.auth.oidc import OidcError

        try:
            return await asyncio.to_thread(oidc.verify, value)
        except OidcError as exc:
            raise Unauthenticated(f"identity token refused: {exc}") from exc
    if kind in ("session", "access"):
        record = await accounts.token_record(conn, value)
        principal = token_principal(record, kind, presented, now)
        if principal is None:
            raise Unauthenticated("unknown, expired or revoked session")
        return principal
    if kind == "display":
        principal = display_principal(await displays.display_for_token(conn, value), presented)
        if principal is None:
            raise Unauthenticated("unknown or revoked display token")
        return principal
    if kind == "source" and presented.where != "cookie":
        identity = await source_for_key(conn, value)
        if identity is None:
            raise Unauthenticated("unknown, expired or revoked API key")
        source = identity.source
        return Principal(
            subject=f"source:{source.id}", name=source.name, role=Role.SOURCE, scope=source.scope,
            credential="source_key", credential_id=str(identity.key_id), source_id=source.id,
            streams=source.streams,
        )  # fmt: skip
    raise Unauthenticated("unrecognised credential")
