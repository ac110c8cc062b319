"""Hold one PostgreSQL LISTEN connection for as long as the process runs, reconnecting on loss.

The live feed, the alert pipeline and the delivery workers each need one; they differ only in the
channel, what a payload means to them, and what to assume after a reconnect (notifications sent
while nobody listened are lost, so each catches up in `on_connect`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

__all__ = ["listen_forever"]


async def listen_forever(
    url: str,
    channel: str,
    on_payload: Callable[[str], None],
    on_connect: Callable[[], None],
    *,
    name: str,
    max_backoff: float = 10.0,
) -> None:
    """LISTEN on `channel`, calling `on_connect()` once listening and `on_payload` per message;
    on a lost connection wait (0.5 s, doubling up to `max_backoff`) and start again."""
    backoff = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {channel}")
                backoff = 0.5
                on_connect()
                async for notify in conn.notifies():
                    on_payload(notify.payload)
        except (psycopg.Error, OSError) as exc:
            log.warning("%s LISTEN connection lost (%s); reconnecting in %.1fs", name, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
