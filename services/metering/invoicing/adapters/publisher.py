"""The background task that publishes coalesced draft-invoice snapshots (InvoiceUpdated) via the outbox.

Rating only marks a tenant's invoice dirty; this task rebuilds and announces dirty drafts at most once
per tenant per interval, so a burst of usage yields one snapshot rather than one per sample. Several
replicas may run it: tenants are claimed with SKIP LOCKED and the interval is kept per tenant in the
database, not per process.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.metering.invoicing.adapters.store import PostgresMeteringStore
from services.metering.invoicing.app.invoices import PUBLISH_BATCH, publish_due_invoices
from shared.clock import Clock
from shared.db.pool import Database

log = logging.getLogger(__name__)

# Look several times per interval, so a change waits little more than the interval to be published.
TICKS_PER_INTERVAL = 4
MIN_TICK_S = 0.05


class InvoicePublisher:
    def __init__(self, db: Database, clock: Clock, interval_s: float) -> None:
        self._db = db
        self._clock = clock
        self._interval = timedelta(seconds=interval_s)
        self._tick_s = max(interval_s / TICKS_PER_INTERVAL, MIN_TICK_S)

    async def publish_once(self) -> int:
        """One round: every due tenant's dirty drafts; returns how many tenants were published."""
        published = 0
        while True:
            async with self._db.transaction() as tx:
                claimed = await publish_due_invoices(
                    PostgresMeteringStore(tx.conn), tx, self._clock.now(), self._interval, PUBLISH_BATCH
                )
            published += claimed
            if claimed < PUBLISH_BATCH:
                return published

    async def run(self) -> None:
        while True:
            try:
                await self.publish_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # PostgreSQL away: the dirty marks stay, and the next round publishes them.
                log.exception("invoice snapshot round failed; retrying")
            await asyncio.sleep(self._tick_s)
