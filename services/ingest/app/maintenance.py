"""Housekeeping: dedupe keys and allocation intervals older than the oldest acceptable usage are dead weight."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.ingest.app.ports import UnitOfWork
from services.ingest.domain.time_window import TimeLimits
from shared.clock import Clock

log = logging.getLogger(__name__)


async def prune_once(unit_of_work: UnitOfWork, clock: Clock, limits: TimeLimits) -> int:
    """Delete what no acceptable usage can match any more; a skew's margin is kept for safety."""
    before = limits.oldest_accepted(clock.now()) - timedelta(seconds=limits.max_future_skew_s)
    async with unit_of_work() as store:
        return await store.prune(before)


async def prune_forever(
    unit_of_work: UnitOfWork, clock: Clock, limits: TimeLimits, interval_s: float
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            removed = await prune_once(unit_of_work, clock, limits)
        except Exception:
            log.exception("pruning ingest's old dedupe keys failed; retrying next round")
        else:
            log.info("pruned %d old dedupe keys and allocation intervals", removed)
