"""Accounts and credentials for tests, written straight into a test database (sync psycopg)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from ioc.auth.credentials import digest, hash_password, new_credential
from ioc.auth.scope import Scope

TEST_PASSWORD = "mật-khẩu-thử-nghiệm-42"


def create_user(db_url: str, username: str, role: str, scope: Scope | None = None,
                password: str = TEST_PASSWORD) -> int:  # fmt: skip
    scope_json = orjson.dumps((scope or Scope.everything()).as_dict()).decode()
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO app_user (username, display_name, password_hash, role, scope) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING id",
            [username, f"Người dùng {username}", hash_password(password), role, scope_json],
        ).fetchone()
    assert row is not None
    return int(row[0])


def access_token(db_url: str, user_id: int, *, hours: float = 24) -> str:
    """A bearer token that outlives a test module (real ones last minutes)."""
    token = new_credential("access")
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO auth_token (token_sha256, kind, user_id, family, expires_at)"
            " VALUES (%s, 'access', %s, %s, %s)",
            [digest(token), user_id, secrets.token_hex(8), datetime.now(UTC) + timedelta(hours=hours)],
        )
    return token


def user_token(db_url: str, username: str, role: str, scope: Scope | None = None) -> str:
    return access_token(db_url, create_user(db_url, username, role, scope))


def display_token(db_url: str, screen_name: str, scope: Scope) -> str:
    token = new_credential("display")
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO display_token (screen_name, scope, token_sha256, created_by) VALUES (%s, %s, %s, 'test')",
            [screen_name, orjson.dumps(scope.as_dict()).decode(), digest(token)],
        )
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
