"""An in-memory stand-in for the PostgreSQL side of a consumer: the inbox and the dead letters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from uuid import UUID

import asyncpg

from shared.db.pool import Database


class FakeConnection:
    """Answers the two statements the consumer writes: the processed-event insert and the dead letter."""

    def __init__(self) -> None:
        self.processed: set[tuple[str, UUID]] = set()
        self.dead_letters: list[tuple[str, str]] = []  # (consumer, reason)

    async def fetchval(self, sql: str, consumer: str, event_id: UUID) -> bool | None:
        assert sql.startswith("INSERT INTO processed_events")
        if (consumer, event_id) in self.processed:
            return None
        self.processed.add((consumer, event_id))
        return True

    async def execute(self, sql: str, *args: Any) -> None:
        assert sql.startswith("INSERT INTO dead_letters")
        self.dead_letters.append((args[0], args[3]))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


class FakePool:
    def __init__(self) -> None:
        self.conn = FakeConnection()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield self.conn


def fake_database() -> tuple[Database, FakeConnection]:
    pool = FakePool()
    return Database(cast(asyncpg.Pool, pool)), pool.conn
