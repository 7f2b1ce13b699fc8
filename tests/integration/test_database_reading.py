"""Database.reading(): reads outside a transaction, and no events can be emitted from it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.db.pool import Database, create_pool
from shared.events.gateway import JobCancelRequested


async def test_a_read_sees_committed_rows_and_cannot_emit(fresh_database: str) -> None:
    db = Database(await create_pool(fresh_database, "public"))
    try:
        async with db.transaction() as tx:
            await tx.conn.execute("CREATE TABLE seen (n int)")
            await tx.conn.execute("INSERT INTO seen VALUES (7)")

        async with db.reading() as read:
            assert await read.conn.fetchval("SELECT n FROM seen") == 7
            assert not read.conn.is_in_transaction()
            event = JobCancelRequested(occurred_at=datetime.now(UTC), tenant_id="t1", job_id="j1")
            with pytest.raises(RuntimeError, match="cannot emit gateway.v1.job.cancel"):
                await read.emit(event)
            with pytest.raises(RuntimeError, match="cannot emit events while only reading"):
                await read.emit_all([event])
            assert read.emitted == []
    finally:
        await db.close()
