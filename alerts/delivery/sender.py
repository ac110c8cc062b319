"""The one interface every channel implements: send one claimed outbox row, or raise why not."""

from __future__ import annotations

from typing import Protocol

from alerts.delivery.outbox import DeliveryRow

__all__ = ["Sender"]


class Sender(Protocol):
    async def send(self, row: DeliveryRow) -> None:
        """Render ``row`` in this channel's form and deliver it.

        Returns normally once the receiver accepted the message; raises
        ``alerts.delivery.errors.TemporaryError`` (retry later) or ``PermanentError`` (dead
        letter). Any other exception is treated as temporary by the workers.
        """
        ...
