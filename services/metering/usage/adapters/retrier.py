"""The loop that bills waiting usage once its tenant can be billed (app/use_cases.py retry_waiting_usage).

Every `interval_s` it takes the longest-waiting records, a batch per transaction, until none is left
that this round can bill: usage waits for a TenantCreated or PriceBookSet on another consumer, so a few
seconds' delay costs nothing, and polling needs no coupling between the two consumers. Several metering
instances share the work: each locks the rows it takes (SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import logging

from services.metering.usage.adapters.ledger_store import PostgresUsageLedger
from services.metering.usage.app.use_cases import retry_waiting_usage
from services.metering.usage.domain.checks import UsageLimits
from shared.clock import Clock
from shared.db.pool import Database

log = logging.getLogger(__name__)


async def retry_waiting_usage_forever(
    db: Database,
    clock: Clock,
    consumer: str,
    limits: UsageLimits,
    max_wait_s: float,
    interval_s: float,
    batch: int,
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await retry_round(db, clock, consumer, limits, max_wait_s, batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retrying waiting usage failed; trying again in %ss", interval_s)


async def retry_round(
    db: Database, clock: Clock, consumer: str, limits: UsageLimits, max_wait_s: float, batch: int
) -> int:
    """One round; the number of records billed or dead-lettered."""
    done = 0
    while True:
        async with db.transaction() as tx:
            outcome = await retry_waiting_usage(
                PostgresUsageLedger(tx, consumer), clock.now(), limits, max_wait_s, batch
            )
        settled = outcome.retried - len(outcome.billed.waiting) + outcome.expired
        done += settled
        if outcome.retried + outcome.expired < batch or settled == 0:
            return done
