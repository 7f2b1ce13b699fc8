"""The outbox relay: publishes committed outbox rows to JetStream with Nats-Msg-Id, then deletes them.

Killed at any instant it republishes at worst; JetStream's duplicate window and the consumers'
processed-event records drop the copy. Several relays may run at once: rows are claimed with
SKIP LOCKED, and each batch is published in id order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext

from shared.db.pool import Database

log = logging.getLogger(__name__)

CLAIM_BATCH_SQL = """
SELECT id, subject, payload, headers FROM outbox
ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""


class OutboxRelay:
    def __init__(
        self, db: Database, js: JetStreamContext, *, batch_size: int = 500, poll_s: float = 0.5
    ) -> None:
        self._db = db
        self._js = js
        self._batch_size = batch_size
        self._poll_s = poll_s
        self._ack_timeout_s = 10.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        db.on_commit_with_events(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows went out."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM_BATCH_SQL, self._batch_size)
            if not rows:
                return 0
            # Pipelined: every message goes out in id order, then all acks are awaited together.
            acks = [
                await self._js.publish_async(row["subject"], row["payload"], headers=row["headers"])
                for row in rows
            ]
            await asyncio.wait_for(asyncio.gather(*acks), timeout=self._ack_timeout_s)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        return len(rows)

    async def _run(self) -> None:
        while True:
            # Cleared before the round, so a wake during the round triggers the next one at once.
            self._wake.clear()
            try:
                while await self.publish_pending() == self._batch_size:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                # NATS or PostgreSQL away: the rows stay, and the next round retries them.
                log.exception("outbox relay round failed; retrying")
                await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
