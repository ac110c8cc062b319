"""The live path's credential re-check: every client due is checked with one SQL statement.

`principals_for_all` (ioc/auth/recheck.py) must answer exactly as `principal_for` does one by one
(same principals, same refusals, same last-seen writes for displays), in one statement however
many clients are due; and end to end, revoked clients are closed with 4401 while the others stay.
Statements are counted by wrapping the connection the re-check borrows and counting `execute`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

import ioc.api.live
from ioc.api.deps import AppState
from ioc.api.live import ENDED_CREDENTIAL, FORBIDDEN, SCOPE_CHANGED, _verdicts
from ioc.auth import accounts
from ioc.auth.credentials import digest
from ioc.auth.recheck import principals_for_all
from ioc.auth.resolve import Presented, Unauthenticated, principal_for
from ioc.auth.scope import Scope
from ioc.sources import create_source
from tests.auth_support import access_token, create_user, display_token
from tests.conftest import LiveServer

TIMEOUT = 10.0
HANOI = Scope.from_dict({"provinces": ["01"]})


class CountingConnection:
    """An AsyncConnection whose `execute` calls are counted (what the re-check sends)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self.executed: list[str] = []

    async def execute(self, query: Any, params: Any = None) -> Any:
        self.executed.append(str(query))
        return await self._conn.execute(query, params)

    async def commit(self) -> None:
        await self._conn.commit()


@dataclass
class CountingPool:
    url: str
    connections: list[CountingConnection]

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[CountingConnection]:
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            counting = CountingConnection(conn)
            self.connections.append(counting)
            yield counting


@dataclass
class Credentials:
    presented: list[Presented]
    revoked: set[int]  # positions whose credential no longer counts


async def session_token(db_url: str, user_id: int) -> str:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        token = await accounts.issue_token(conn, user_id, "session", timedelta(hours=1), datetime.now(UTC))
        await conn.commit()
    return token


async def many_credentials(db_url: str, n: int) -> Credentials:
    """n of each kind (access token, session cookie, display token), every third one ended in a
    different way: revoked, expired, the account disabled, the display revoked."""
    presented: list[Presented] = []
    revoked: set[int] = set()
    with psycopg.connect(db_url) as conn:
        for i in range(n):
            user = create_user(db_url, f"recheck-{i}", "leader", HANOI)
            presented.append(Presented(access_token(db_url, user), "bearer"))
            if i % 3 == 1:
                conn.execute("UPDATE auth_token SET revoked_at = now() WHERE token_sha256 = %s",
                             [digest(presented[-1].value)])  # fmt: skip
                revoked.add(len(presented) - 1)
            presented.append(Presented(await session_token(db_url, user), "cookie"))
            if i % 3 == 2:
                conn.execute("UPDATE app_user SET disabled_at = now() WHERE id = %s", [user])
                revoked |= {len(presented) - 2, len(presented) - 1}
            presented.append(Presented(display_token(db_url, f"Màn hình {i}", HANOI), "bearer"))
            if i % 3 == 0:
                conn.execute("UPDATE display_token SET revoked_at = now() WHERE token_sha256 = %s",
                             [digest(presented[-1].value)])  # fmt: skip
                revoked.add(len(presented) - 1)
        expired = create_user(db_url, "recheck-expired", "leader", HANOI)
        presented.append(Presented(access_token(db_url, expired, hours=-1), "bearer"))
        revoked.add(len(presented) - 1)
        # A session token presented as a bearer token does not count (principal_for's rule).
        presented.append(Presented(await session_token(db_url, expired), "bearer"))
        revoked.add(len(presented) - 1)
        presented.append(Presented("iocd_" + "x" * 43, "bearer"))  # never issued
        revoked.add(len(presented) - 1)
    return Credentials(presented, revoked)


async def one_by_one(db_url: str, presented: list[Presented], now: datetime) -> list[Any]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        out: list[Any] = []
        for credential in presented:
            try:
                out.append(await principal_for(conn, credential, now))
            except Unauthenticated:
                out.append(None)
        await conn.rollback()  # leave last_seen_at to the batch under test
    return out


async def test_the_batch_answers_as_principal_for_does_in_one_statement(db_url: str) -> None:
    creds = await many_credentials(db_url, 9)
    now = datetime.now(UTC)
    expected = await one_by_one(db_url, creds.presented, now)
    assert {i for i, p in enumerate(expected) if p is None} == creds.revoked  # the fixture is what it says

    pool = CountingPool(db_url, [])
    async with pool.connection() as conn:
        got = await principals_for_all(cast(Any, conn), creds.presented, now)
        await conn.commit()
    assert got == expected
    assert len(pool.connections[0].executed) == 1


async def test_the_batch_writes_a_live_displays_last_seen_at_as_principal_for_does(db_url: str) -> None:
    live = display_token(db_url, "Màn hình sảnh", HANOI)
    gone = display_token(db_url, "Màn hình cũ", HANOI)
    recent = display_token(db_url, "Màn hình vừa thấy", HANOI)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE display_token SET revoked_at = now() WHERE token_sha256 = %s", [digest(gone)])
        conn.execute("UPDATE display_token SET last_seen_at = now() - interval '10 seconds' WHERE token_sha256 = %s",
                     [digest(recent)])  # fmt: skip
        before: dict[str, datetime | None] = dict(
            conn.execute("SELECT token_sha256, last_seen_at FROM display_token").fetchall()
        )
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await principals_for_all(conn, [Presented(t, "bearer") for t in (live, gone, recent)], datetime.now(UTC))
        await conn.commit()
    with psycopg.connect(db_url) as conn:
        after: dict[str, datetime | None] = dict(
            conn.execute("SELECT token_sha256, last_seen_at FROM display_token").fetchall()
        )
    assert before[digest(live)] is None and after[digest(live)] is not None
    assert after[digest(gone)] == before[digest(gone)]  # revoked: not touched
    assert after[digest(recent)] == before[digest(recent)]  # seen within the minute: not rewritten


async def test_n_clients_due_cost_one_statement_and_get_their_own_verdicts(db_url: str) -> None:
    creds = await many_credentials(db_url, 12)
    # And one client whose user's scope has changed since it connected, and one without a credential.
    moved = create_user(db_url, "recheck-moved", "leader", Scope.from_dict({"provinces": ["79"]}))
    presented = [*creds.presented, Presented(access_token(db_url, moved), "bearer"), None]
    pool = CountingPool(db_url, [])
    state = cast(AppState, type("State", (), {"pool": pool, "oidc": None})())
    verdicts = await _verdicts(state, presented, [HANOI.key] * len(presented))
    assert len(pool.connections) == 1 and len(pool.connections[0].executed) == 1
    n = len(creds.presented)
    assert [i for i, v in enumerate(verdicts[:n]) if v is not None] == sorted(creds.revoked)
    assert all(verdicts[i] == ENDED_CREDENTIAL for i in creds.revoked)
    assert verdicts[n:] == [SCOPE_CHANGED, ENDED_CREDENTIAL]


async def test_a_source_key_is_checked_on_its_own_and_may_not_read_status(db_url: str) -> None:
    """Source keys live in another table and never stream in practice: they take principal_for's
    path (a second statement), and the answer is the role's refusal."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        _, key = await create_source(conn, "recheck-src", "Nguồn thử", frozenset({"dossier"}), HANOI)
        await conn.commit()
    display = display_token(db_url, "Màn hình", HANOI)
    pool = CountingPool(db_url, [])
    state = cast(AppState, type("State", (), {"pool": pool, "oidc": None})())
    verdicts = await _verdicts(state, [Presented(key, "bearer"), Presented(display, "bearer")], [HANOI.key] * 2)
    assert verdicts == [FORBIDDEN, None]
    assert len(pool.connections[0].executed) == 2


# --------------------------------------------------------------------------- end to end


async def hello(ws: ClientConnection, token: str) -> None:
    await ws.send(orjson.dumps({"type": "hello", "epoch": None, "last_seq": None, "token": token}).decode())
    assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "snapshot"


async def closed_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()  # deltas may arrive until the close
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_revoked_wall_screens_are_closed_with_4401_and_the_others_stay(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ioc.api.live, "RECHECK_SECONDS", 0.2)
    batches: list[int] = []
    real = principals_for_all

    async def counted(conn: Any, presented: Any, now: datetime, oidc: Any = None) -> Any:
        batches.append(len(presented))
        return await real(conn, presented, now, oidc)

    monkeypatch.setattr(ioc.api.live, "principals_for_all", counted)
    tokens = [display_token(live_server.db_url, f"Màn hình {i}", HANOI) for i in range(6)]
    sockets = [await connect(live_server.ws_url) for _ in tokens]
    try:
        for ws, token in zip(sockets, tokens, strict=True):
            await hello(ws, token)
        await asyncio.sleep(0.8)  # several rounds of re-checks while every token is valid
        assert all(ws.state is State.OPEN for ws in sockets)
        with psycopg.connect(live_server.db_url) as conn:
            conn.execute("UPDATE display_token SET revoked_at = now() WHERE token_sha256 = ANY(%s)",
                         [[digest(t) for t in tokens[::2]]])  # fmt: skip
        codes = await asyncio.gather(*(closed_code(ws) for ws in sockets[::2]))
        assert codes == [4401, 4401, 4401]
        await asyncio.sleep(0.8)  # more rounds: the valid ones are checked again and kept
        for ws in sockets[1::2]:
            assert ws.state is State.OPEN
            await asyncio.wait_for(await ws.ping(), TIMEOUT)
    finally:
        for ws in sockets:
            await ws.close()
    assert batches  # the re-check went through the batch lookup
