"""The asynchronous connection pool every request and background job borrows from."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ioc.settings import Settings

Conn = AsyncConnection[tuple[object, ...]]


async def _configure(conn: Conn) -> None:
    # Storage is UTC; working days and display are the application's business.
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.commit()


def make_pool(settings: Settings, url: str) -> AsyncConnectionPool[Conn]:
    return AsyncConnectionPool(
        url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        configure=_configure,
        open=False,
        name="ioc",
    )
