"""The connection pool, and the unit of work that writes state and outbox rows in one transaction."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from shared.events.base import Event
from shared.telemetry import current_traceparent


async def create_pool(
    database_url: str, schema: str, *, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    async def init(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema},
        init=init,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's default reset query (a round trip per transaction): nothing
    here changes session state (no SET, LISTEN or session advisory locks on pooled connections), and
    asyncpg still rolls back a transaction left open and drops listeners before calling this."""


@dataclass
class Tx:
    """One open transaction. Events emitted here become outbox rows, published only after commit."""

    conn: asyncpg.Connection
    emitted: list[Event] = field(default_factory=list)

    async def emit(self, event: Event) -> None:
        await self.conn.execute(
            "INSERT INTO outbox (event_id, subject, payload, headers) VALUES ($1, $2, $3, $4)",
            event.event_id,
            event.subject(),
            event.model_dump_json().encode(),
            event.headers(current_traceparent()),
        )
        self.emitted.append(event)

    async def emit_all(self, events: list[Event]) -> None:
        if not events:
            return
        traceparent = current_traceparent()
        await self.conn.executemany(
            "INSERT INTO outbox (event_id, subject, payload, headers) VALUES ($1, $2, $3, $4)",
            [(e.event_id, e.subject(), e.model_dump_json().encode(), e.headers(traceparent)) for e in events],
        )
        self.emitted.extend(events)


class _ReadOnlyTx(Tx):
    async def emit(self, event: Event) -> None:
        raise RuntimeError(f"cannot emit {event.TYPE} while only reading: emit inside a transaction")

    async def emit_all(self, events: list[Event]) -> None:
        if events:
            raise RuntimeError("cannot emit events while only reading: emit inside a transaction")


class Database:
    """A pool plus a hook called after each commit that emitted events (it wakes the outbox relay)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._after_commit: list[Callable[[], None]] = []

    def on_commit_with_events(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn, conn.transaction():
            tx = Tx(conn)
            yield tx
        if tx.emitted:
            for callback in self._after_commit:
                callback()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Tx]:
        """A connection for reads alone, outside a transaction: each statement sees committed data, and
        the BEGIN and COMMIT round trips a transaction would cost are saved (hot read paths such as
        authenticating every request). Emitting here is refused: events need the state's transaction."""
        async with self.pool.acquire() as conn:
            yield _ReadOnlyTx(conn)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self.pool.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self.pool.fetchrow(query, *args)

    async def close(self) -> None:
        await self.pool.close()
