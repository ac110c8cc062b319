"""Signing in and out: browser sessions (cookie), bearer tokens with refresh, display screens.

  POST /api/v1/auth/login     username + password → HTTP-only, SameSite=Strict session cookie
  POST /api/v1/auth/logout    ends the current session or token family
  POST /api/v1/auth/token     username + password → short-lived access token + refresh token
  POST /api/v1/auth/refresh   refresh token → a new pair; the old refresh token is spent
  POST /api/v1/auth/display   display token → long-lived display cookie (a wall screen, once)
  GET  /api/v1/auth/me        who am I: role, scope
  POST /api/v1/auth/password  change one's own password

Every login, failed login and token use that matters lands in the audit trail.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field, StringConstraints

from ioc.api.deps import AppState, app_state
from ioc.api.guard import client_origin, guard
from ioc.api.ratelimit import retry_after_header
from ioc.auth import accounts, audit, displays
from ioc.auth.credentials import dummy_password_check, kind_of, verify_password
from ioc.auth.policy import PUBLIC, Action, Policy
from ioc.auth.principal import Principal
from ioc.auth.resolve import DISPLAY_COOKIE, SESSION_COOKIE
from ioc.db.pool import Conn

# Printable text only: a NUL or control character has no business in a name or a password.
Username = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
# Anyone signed in, acting on their own account.
AccountHolder = Annotated[Principal, guard(Policy(Action.ACCOUNT_SELF, "global"))]
PasswordHolder = Annotated[Principal, guard(Policy(Action.ACCOUNT_PASSWORD, "global"))]
DISPLAY_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie


class LoginIn(BaseModel):
    username: Username
    password: Password


class RefreshIn(BaseModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class DisplayClaimIn(BaseModel):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class PasswordChangeIn(BaseModel):
    current_password: Password
    new_password: Annotated[str, StringConstraints(min_length=10, max_length=256, pattern=r"^[^\x00]+$")] = Field(
        description="ít nhất 10 ký tự / at least 10 characters"
    )


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


def _limit(state: AppState, request: Request, username: str) -> None:
    """Rate-limit sign-in attempts per client address and per username (guessing either way)."""
    ip = request.client.host if request.client else "unknown"
    for limiter, key in ((state.login_limiter_by_ip, ip), (state.login_limiter_by_user, username.lower())):
        if limiter is not None and (wait := limiter.check(key)) > 0:
            raise HTTPException(429, "quá nhiều lần đăng nhập / too many sign-in attempts",
                                headers={"Retry-After": retry_after_header(wait)})  # fmt: skip


async def _check_password(state: AppState, request: Request, body: LoginIn, via: str) -> accounts.User:
    _limit(state, request, body.username)
    origin = client_origin(request)
    async with state.pool.connection() as conn:
        found = await accounts.user_by_name(conn, body.username.lower())
        ok = False
        if found is None:
            dummy_password_check(body.password)
        else:
            ok = found[0].active and verify_password(found[1], body.password)
        if not ok:
            await audit.record(conn, actor=f"user:{body.username.lower()}", actor_role=None, action="login.failure",
                               target=f"user:{body.username.lower()}",
                               outcome="denied", origin=origin, details={"via": via})  # fmt: skip
            await conn.commit()
            raise HTTPException(401, "sai tên đăng nhập hoặc mật khẩu / wrong username or password")
        assert found is not None
        return found[0]


def _set_cookie(state: AppState, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=state.settings.cookie_secure, path="/")  # fmt: skip


def auth_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

    @router.post("/login", dependencies=[guard(PUBLIC)], responses={401: {}, 422: {}, 429: {}})
    async def login(request: Request, response: Response, body: LoginIn) -> dict[str, Any]:
        """Sign in from a browser: sets the session cookie (HTTP-only, SameSite=Strict)."""
        state = app_state(request)
        user = await _check_password(state, request, body, "cookie")
        now = datetime.now(UTC)
        ttl = timedelta(hours=state.settings.session_hours)
        async with state.pool.connection() as conn, conn.transaction():
            ip = client_origin(request).client_ip
            token = await accounts.issue_token(conn, user.id, "session", ttl, now, client_ip=ip)
            await audit.record(conn, actor=f"user:{user.username}", actor_role=user.role.value, action="login.success",
                               target=f"user:{user.username}",
                               origin=client_origin(request), details={"via": "cookie"})  # fmt: skip
        _set_cookie(state, response, SESSION_COOKIE, token, int(ttl.total_seconds()))
        response.delete_cookie(DISPLAY_COOKIE, path="/")
        return {"user": user.as_dict()}

    @router.post("/token", dependencies=[guard(PUBLIC)], responses={401: {}, 422: {}, 429: {}})
    async def token(request: Request, body: LoginIn) -> TokenPair:
        """Sign in from an API client: a short-lived bearer token and a refresh token."""
        state = app_state(request)
        user = await _check_password(state, request, body, "token")
        async with state.pool.connection() as conn, conn.transaction():
            pair = await _issue_pair(state, conn, user, None, request)
            await audit.record(conn, actor=f"user:{user.username}", actor_role=user.role.value, action="login.success",
                               target=f"user:{user.username}",
                               origin=client_origin(request), details={"via": "token"})  # fmt: skip
        return pair

    @router.post("/refresh", dependencies=[guard(PUBLIC)], responses={401: {}, 422: {}})
    async def refresh(request: Request, body: RefreshIn) -> TokenPair:
        """Trade a refresh token for a new pair. Each refresh token works once: a reused one
        (a stolen copy, or a replay) ends its whole family, so the thief and the owner both
        have to sign in again."""
        state = app_state(request)
        now = datetime.now(UTC)
        async with state.pool.connection() as conn:
            is_refresh = kind_of(body.refresh_token) == "refresh"
            record = await accounts.token_record(conn, body.refresh_token) if is_refresh else None
            if record is None or record.kind != "refresh" or not record.valid(now):
                if record is not None and record.kind == "refresh" and record.revoked_at is not None:
                    await accounts.revoke_family(conn, record.family)
                    await audit.record(
                        conn,
                        actor=f"user:{record.user.username}",
                        actor_role=record.user.role.value,
                        action="token.refresh_reused",
                        outcome="denied",
                        origin=client_origin(request),
                    )
                # The revocation and its audit row must survive the 401 below.
                await conn.commit()
                raise HTTPException(401, "refresh token không hợp lệ / invalid, expired or used refresh token")
            async with conn.transaction():
                await accounts.revoke_token(conn, body.refresh_token)
                return await _issue_pair(state, conn, record.user, record.family, request)

    @router.post("/logout")
    async def logout(request: Request, response: Response, principal: AccountHolder) -> dict[str, Any]:
        """End the current session (cookie) or token family; a display forgets its cookie."""
        state = app_state(request)
        async with state.pool.connection() as conn, conn.transaction():
            family = principal.credential_id.removeprefix("cookie:")
            if principal.user_id is not None and family:
                await accounts.revoke_family(conn, family)
            await audit.record(conn, actor=principal.subject, actor_role=principal.role.value, action="logout",
                               target=principal.subject,
                               origin=client_origin(request))  # fmt: skip
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(DISPLAY_COOKIE, path="/")
        return {"signed_out": True}

    @router.post("/display", dependencies=[guard(PUBLIC)], responses={401: {}, 422: {}, 429: {}})
    async def claim_display(request: Request, response: Response, body: DisplayClaimIn) -> dict[str, Any]:
        """A wall screen presents its display token once and keeps it as an HTTP-only cookie."""
        state = app_state(request)
        _limit(state, request, "display")
        async with state.pool.connection() as conn, conn.transaction():
            display = await displays.display_for_token(conn, body.token) if kind_of(body.token) == "display" else None
            await audit.record(conn, actor=f"display:{display.id}" if display else "anonymous", actor_role="display",
                               action="display.sign_in" if display else "login.failure",
                               outcome="ok" if display else "denied", origin=client_origin(request),
                               details={"via": "display_token"})  # fmt: skip
        if display is None:
            raise HTTPException(401, "mã màn hình không hợp lệ / unknown or revoked display token")
        _set_cookie(state, response, DISPLAY_COOKIE, body.token, DISPLAY_COOKIE_MAX_AGE)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return {"display": display.as_dict()}

    @router.get("/me")
    async def me(principal: AccountHolder) -> dict[str, Any]:
        return {
            "subject": principal.subject, "name": principal.name, "role": principal.role.value,
            "scope": principal.scope.as_dict(), "credential": principal.credential,
        }  # fmt: skip

    @router.post("/password", responses={422: {}})
    async def change_password(request: Request, body: PasswordChangeIn, principal: PasswordHolder) -> dict[str, Any]:
        """Change one's own password; every other session of the account ends."""
        state = app_state(request)
        if principal.user_id is None:
            raise HTTPException(403, "tài khoản này không có mật khẩu / this identity has no IOC password")
        async with state.pool.connection() as conn, conn.transaction():
            user = await accounts.user_by_id(conn, principal.user_id)
            found = await accounts.user_by_name(conn, user.username) if user else None
            if found is None or not verify_password(found[1], body.current_password):
                raise HTTPException(403, "mật khẩu hiện tại không đúng / current password is wrong")
            await accounts.update_user(
                conn, found[0], password=body.new_password,
                keep_family=principal.credential_id.removeprefix("cookie:") or None,
            )  # fmt: skip
            await audit.record(
                conn,
                actor=principal.subject,
                actor_role=principal.role.value,
                action="user.password_change",
                target=principal.subject,
                origin=client_origin(request),
            )
        return {"changed": True}

    return router


async def _issue_pair(
    state: AppState, conn: Conn, user: accounts.User, family: str | None, request: Request
) -> TokenPair:
    now = datetime.now(UTC)
    family = family or secrets.token_hex(8)
    ip = client_origin(request).client_ip
    access_ttl = timedelta(minutes=state.settings.access_token_minutes)
    access = await accounts.issue_token(conn, user.id, "access", access_ttl, now, family=family, client_ip=ip)
    refresh = await accounts.issue_token(conn, user.id, "refresh", timedelta(days=state.settings.refresh_token_days),
                                         now, family=family, client_ip=ip)  # fmt: skip
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=int(access_ttl.total_seconds()))
