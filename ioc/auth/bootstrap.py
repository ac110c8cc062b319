"""Account chores outside the API: the CLI's user / display commands and the demo's first admin.

Each runs in its own short connection and writes its audit row (actor `cli:<os user>`) in the
same transaction as the change.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from ioc.auth import accounts, audit, displays
from ioc.auth.policy import Role
from ioc.auth.scope import Scope

DEMO_ADMIN = "admin"
SELECT_ANY_ADMIN = "SELECT 1 FROM app_user WHERE role = 'admin' AND disabled_at IS NULL LIMIT 1"


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}"


def new_password() -> str:
    return secrets.token_urlsafe(12)


def create_user(url: str, username: str, display_name: str, role: Role, scope: Scope, password: str) -> None:
    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            user = await accounts.create_user(
                conn, username=username, display_name=display_name, password=password, role=role, scope=scope
            )
            await audit.record(
                conn,
                actor=cli_actor(),
                actor_role="admin",
                action="user.create",
                target=f"user:{user.username}",
                details={"role": role.value, "scope": scope.as_dict()},
            )
            await conn.commit()

    asyncio.run(run())


def list_users(url: str) -> list[accounts.User]:
    async def run() -> list[accounts.User]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await accounts.list_users(conn)

    return asyncio.run(run())


def create_display(url: str, screen_name: str, scope: Scope) -> str:
    async def run() -> str:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            display, token = await displays.create_display(conn, screen_name, scope, cli_actor())
            await audit.record(
                conn,
                actor=cli_actor(),
                actor_role="admin",
                action="display.create",
                target=f"display:{display.id}",
                details={"screen_name": screen_name},
            )
            await conn.commit()
            return token

    return asyncio.run(run())


def access_token_for(url: str, username: str, minutes: float = 60.0) -> str:
    """A short-lived access token for an existing account (the demo sets its simulated targets with it)."""

    async def run() -> str:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            found = await accounts.user_by_name(conn, username)
            if found is None:
                raise accounts.AccountError(f"no account {username!r}")
            token = await accounts.issue_token(
                conn, found[0].id, "access", timedelta(minutes=minutes), datetime.now(UTC)
            )
            await conn.commit()
            return token

    return asyncio.run(run())


def ensure_demo_admin(url: str, data_dir: Path) -> tuple[str, str] | None:
    """The demo's first account: `admin` with a random password kept in the data folder (mode 0600).

    Returns (username, password) when that file holds the password of the demo admin, so the
    demo can print how to sign in; None when the operator has set up accounts of their own.
    """
    password_file = data_dir / "admin-password.txt"
    with psycopg.connect(url) as conn:
        has_admin = conn.execute(SELECT_ANY_ADMIN).fetchone() is not None
    if not has_admin:
        password = new_password()
        create_user(url, DEMO_ADMIN, "Quản trị viên (demo)", Role.ADMIN, Scope.everything(), password)
        data_dir.mkdir(parents=True, exist_ok=True)
        password_file.write_text(password + "\n", encoding="utf-8")
        password_file.chmod(0o600)
        return DEMO_ADMIN, password
    if password_file.is_file():
        return DEMO_ADMIN, password_file.read_text(encoding="utf-8").strip()
    return None
