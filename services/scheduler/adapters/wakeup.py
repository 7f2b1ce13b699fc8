"""Wake-ups across instances: consumers NOTIFY in their transaction, the leader LISTENs.

PostgreSQL delivers a notification only when its transaction commits, so the cycle it triggers
always sees the fact that caused it, whichever instance recorded it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from services.scheduler.adapters.pg_facts import WAKE_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_S = 1.0


async def listen_for_wakes(database_url: str, on_wake: Callable[[], None]) -> None:
    """Call `on_wake` on every notification until cancelled; reconnect when the connection drops."""

    def notified(*_: Any) -> None:
        on_wake()

    while True:
        try:
            await _listen_until_disconnected(database_url, notified, on_wake)
            log.warning("wake-up connection lost; reconnecting")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            # Meanwhile the cycle still runs every interval: only its reaction time suffers.
            log.warning("cannot listen for wake-ups (%s); retrying", error)
        await asyncio.sleep(RECONNECT_S)


async def _listen_until_disconnected(
    database_url: str, notified: Callable[..., None], on_wake: Callable[[], None]
) -> None:
    conn = await asyncpg.connect(database_url)
    closed = asyncio.Event()
    conn.add_termination_listener(lambda *_: closed.set())
    try:
        await conn.add_listener(WAKE_CHANNEL, notified)
        # Whatever was committed while not listening is picked up now rather than at the next interval.
        on_wake()
        await closed.wait()
    finally:
        if not conn.is_closed():
            await conn.close()
