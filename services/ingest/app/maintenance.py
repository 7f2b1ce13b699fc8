"""Housekeeping: dedupe keys and allocation intervals older than the oldest acceptable usage are dead
weight; samples held longer than the retention for a release ingest never heard are dead-lettered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from services.ingest.app.ports import UnitOfWork
from services.ingest.domain.held_samples import HELD_SAMPLES_CONSUMER, dead_letter_of, held_before
from services.ingest.domain.time_window import TimeLimits
from shared.clock import Clock

log = logging.getLogger(__name__)

# Held samples expired per transaction: a backlog (a node's lost releases) goes in bounded steps.
EXPIRE_BATCH = 500


async def prune_once(unit_of_work: UnitOfWork, clock: Clock, limits: TimeLimits) -> int:
    """Delete what no acceptable usage can match any more; a skew's margin is kept for safety."""
    before = limits.oldest_accepted(clock.now()) - timedelta(seconds=limits.max_future_skew_s)
    async with unit_of_work() as store:
        return await store.prune(before)


async def expire_held_samples_once(
    unit_of_work: UnitOfWork, clock: Clock, retention_s: float, batch: int = EXPIRE_BATCH
) -> int:
    """Move the samples held longer than the retention to dead_letters; how many went. Each sample's
    rows go in the transaction that writes its dead letter, so a failure loses none."""
    before = held_before(clock.now(), retention_s)
    expired = 0
    while True:
        async with unit_of_work() as store:
            holds = await store.take_expired_holds(before, batch)
            for hold in holds:
                letter = dead_letter_of(hold, retention_s)
                await store.dead_letter(
                    HELD_SAMPLES_CONSUMER, letter.subject, letter.payload, letter.headers, letter.reason
                )
        expired += len(holds)
        if len(holds) < batch:
            return expired


async def prune_forever(
    unit_of_work: UnitOfWork, clock: Clock, limits: TimeLimits, interval_s: float
) -> None:
    await _every(
        interval_s,
        lambda: prune_once(unit_of_work, clock, limits),
        failed="pruning ingest's old dedupe keys failed",
        done="pruned %d old dedupe keys and allocation intervals",
    )


async def expire_held_samples_forever(
    unit_of_work: UnitOfWork, clock: Clock, retention_s: float, interval_s: float
) -> None:
    await _every(
        interval_s,
        lambda: expire_held_samples_once(unit_of_work, clock, retention_s),
        failed="dead-lettering samples held past the retention failed",
        done="dead-lettered %d samples held past the retention",
    )


async def _every(interval_s: float, round_: Callable[[], Awaitable[int]], *, failed: str, done: str) -> None:
    """One round per interval; a failed round is logged and tried again next time."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            count = await round_()
        except Exception:
            log.exception("%s; retrying next round", failed)
        else:
            log.info(done, count)
