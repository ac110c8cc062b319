"""Accounts, sessions and tokens in the database. Passwords as argon2id, tokens as SHA-256."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from psycopg.errors import UniqueViolation

from ioc.auth.credentials import Kind, digest, hash_password, new_credential
from ioc.auth.policy import Role
from ioc.auth.scope import Scope
from ioc.db.pool import Conn

USER_COLUMNS = "id, username, display_name, role, scope, email, created_at, updated_at, disabled_at"
SELECT_USER_BY_NAME = f"SELECT {USER_COLUMNS}, password_hash FROM app_user WHERE username = %s"
SELECT_USER_BY_ID = f"SELECT {USER_COLUMNS} FROM app_user WHERE id = %s"
SELECT_USERS = f"SELECT {USER_COLUMNS} FROM app_user ORDER BY username"
INSERT_USER = f"""
INSERT INTO app_user (username, display_name, password_hash, role, scope, email)
VALUES (%s, %s, %s, %s, %s::jsonb, %s) RETURNING {USER_COLUMNS}
"""
UPDATE_USER = f"""
UPDATE app_user SET
    display_name = coalesce(%(display_name)s, display_name),
    role = coalesce(%(role)s, role),
    scope = coalesce(%(scope)s::jsonb, scope),
    email = CASE WHEN %(set_email)s THEN %(email)s ELSE email END,
    password_hash = coalesce(%(password_hash)s, password_hash),
    disabled_at = CASE WHEN %(disabled)s::boolean IS NULL THEN disabled_at
                       WHEN %(disabled)s THEN coalesce(disabled_at, now()) ELSE NULL END,
    updated_at = now()
WHERE id = %(id)s RETURNING {USER_COLUMNS}
"""
INSERT_TOKEN = """
INSERT INTO auth_token (token_sha256, kind, user_id, family, expires_at, client_ip) VALUES (%s, %s, %s, %s, %s, %s)
"""
# The token's row and its user's, in one round trip per request.
SELECT_TOKEN = f"""
SELECT t.kind, t.family, t.expires_at, t.revoked_at, {", ".join("u." + c.strip() for c in USER_COLUMNS.split(","))}
FROM auth_token t JOIN app_user u ON u.id = t.user_id
WHERE t.token_sha256 = %s
"""
REVOKE_TOKEN = "UPDATE auth_token SET revoked_at = now() WHERE token_sha256 = %s AND revoked_at IS NULL"
REVOKE_FAMILY = "UPDATE auth_token SET revoked_at = now() WHERE family = %s AND revoked_at IS NULL"
REVOKE_USER_TOKENS = """
UPDATE auth_token SET revoked_at = now()
WHERE user_id = %s AND revoked_at IS NULL AND family IS DISTINCT FROM %s
"""


class AccountError(ValueError):
    """A request about accounts that cannot be met (duplicate name, bad role for a person)."""


PERSON_ROLES = (Role.ADMIN, Role.LEADER, Role.OPERATOR, Role.SUBSCRIBER)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    scope: Scope
    email: str | None
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> User:
        uid, username, display_name, role, scope, email, created, updated, disabled = row[:9]
        return cls(uid, username, display_name, Role(role), Scope.from_dict(scope), email, created, updated, disabled)

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "username": self.username, "display_name": self.display_name, "role": self.role.value,
            "scope": self.scope.as_dict(), "email": self.email, "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None,
        }  # fmt: skip


def check_person_role(role: Role, scope: Scope) -> None:
    if role not in PERSON_ROLES:
        raise AccountError(f"role {role.value!r} is not for people (displays and sources have their own credentials)")
    if role is Role.ADMIN and not scope.unrestricted:
        raise AccountError("an admin manages every account, so an admin's scope must be national and unrestricted")


async def create_user(
    conn: Conn,
    *,
    username: str,
    display_name: str,
    password: str | None,
    role: Role,
    scope: Scope,
    email: str | None = None,
) -> User:
    check_person_role(role, scope)
    password_hash = hash_password(password) if password else None
    try:
        async with conn.transaction():
            cur = await conn.execute(
                INSERT_USER,
                [username, display_name, password_hash, role.value, orjson.dumps(scope.as_dict()).decode(), email],
            )
            row = await cur.fetchone()
    except UniqueViolation as exc:
        raise AccountError(f"username {username!r} is taken") from exc
    assert row is not None
    return User.from_row(row)


async def user_by_name(conn: Conn, username: str) -> tuple[User, str | None] | None:
    cur = await conn.execute(SELECT_USER_BY_NAME, [username])
    row: Any = await cur.fetchone()
    return (User.from_row(row), row[9]) if row else None


async def user_by_id(conn: Conn, user_id: int) -> User | None:
    cur = await conn.execute(SELECT_USER_BY_ID, [user_id])
    row = await cur.fetchone()
    return User.from_row(row) if row else None


async def list_users(conn: Conn) -> list[User]:
    cur = await conn.execute(SELECT_USERS)
    return [User.from_row(r) for r in await cur.fetchall()]


async def update_user(
    conn: Conn,
    user: User,
    *,
    display_name: str | None = None,
    role: Role | None = None,
    scope: Scope | None = None,
    email: str | None = None,
    set_email: bool = False,
    password: str | None = None,
    disabled: bool | None = None,
    keep_family: str | None = None,
) -> User:
    check_person_role(role or user.role, scope or user.scope)
    params = {
        "id": user.id, "display_name": display_name, "role": role.value if role else None,
        "scope": orjson.dumps(scope.as_dict()).decode() if scope else None, "email": email, "set_email": set_email,
        "password_hash": hash_password(password) if password else None, "disabled": disabled,
    }  # fmt: skip
    cur = await conn.execute(UPDATE_USER, params)
    row = await cur.fetchone()
    assert row is not None
    if disabled or password or role or scope:
        # A changed password, role or scope, or a disabled account, ends every session it had.
        # (`keep_family`: the caller changing their own password keeps the session they did it from.)
        await conn.execute(REVOKE_USER_TOKENS, [user.id, keep_family])
    return User.from_row(row)


async def issue_token(
    conn: Conn,
    user_id: int,
    kind: Kind,
    ttl: timedelta,
    now: datetime,
    *,
    family: str | None = None,
    client_ip: str | None = None,
) -> str:
    token = new_credential(kind)
    await conn.execute(INSERT_TOKEN, [digest(token), kind, user_id, family or secrets.token_hex(8), now + ttl,
                                      client_ip])  # fmt: skip
    return token


@dataclass(frozen=True)
class TokenRecord:
    kind: str
    family: str
    expires_at: datetime
    revoked_at: datetime | None
    user: User

    def valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now and self.user.active


async def token_record(conn: Conn, token: str) -> TokenRecord | None:
    cur = await conn.execute(SELECT_TOKEN, [digest(token)])
    row: Any = await cur.fetchone()
    if row is None:
        return None
    return TokenRecord(row[0], row[1], row[2], row[3], User.from_row(row[4:]))


async def revoke_token(conn: Conn, token: str) -> None:
    await conn.execute(REVOKE_TOKEN, [digest(token)])


async def revoke_family(conn: Conn, family: str) -> None:
    await conn.execute(REVOKE_FAMILY, [family])
