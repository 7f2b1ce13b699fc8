"""Leadership: hold the lease while this instance runs, know the epoch, give it up on stop.

The lease is refreshed every third of its TTL. This instance stops deciding as soon as a refresh
fails, when its fenced write is refused, or when a whole TTL passed without a good refresh (its
lease may have expired and been taken), whichever comes first.

Two things decide, each once. The lease's compare-and-swap decides who leads: only the instance that
created the key claims an epoch. The fence in PostgreSQL decides which writes count: the claim takes an
epoch above every epoch used before (the fence's value plus one, or the lease's revision if higher) and
records it in one statement, and every cycle's transaction is refused when the fence holds a newer
epoch. So a deposed leader that still believes it leads writes nothing once its successor has claimed
(the claim waits for a cycle the old leader has in flight, whose commands then precede the new ones),
and the epoch never goes back, even when NATS loses its data and the lease's revisions restart at 1:
agents, which refuse an epoch lower than the highest they have seen, accept the new leader's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from services.scheduler.app.ports import EpochFence, Lease

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, lease: Lease, fence: EpochFence, ttl_s: float) -> None:
        self._lease = lease
        self._fence = fence
        self._ttl_s = ttl_s
        self._on_elected: list[Callable[[], None]] = []
        self._epoch: int | None = None
        self._valid_until = 0.0
        # Lease rounds run so far (acquire or refresh attempts), for health checks and tests.
        self.rounds = 0

    def on_elected(self, callback: Callable[[], None]) -> None:
        """Called each time this instance becomes the leader (the first cycle should not wait)."""
        self._on_elected.append(callback)

    @property
    def epoch(self) -> int | None:
        """The epoch to decide under, or None when this instance is not the leader."""
        if self._epoch is not None and asyncio.get_running_loop().time() >= self._valid_until:
            log.warning("lease epoch %d not refreshed within its TTL: no longer deciding", self._epoch)
            self._epoch = None
        return self._epoch

    async def run(self) -> None:
        """Acquire or refresh, every third of the TTL, until cancelled."""
        while True:
            await self.tick()
            await asyncio.sleep(self._ttl_s / 3)

    async def tick(self) -> None:
        started = asyncio.get_running_loop().time()
        self.rounds += 1
        try:
            if self._epoch is None:
                revision = await self._lease.acquire()
                if revision is not None:
                    epoch = await self._claim(revision)
                    self._epoch, self._valid_until = epoch, started + self._ttl_s
                    log.info("elected leader with epoch %d", epoch)
                    for callback in self._on_elected:
                        callback()
            elif await self._lease.refresh():
                self._valid_until = started + self._ttl_s
            else:
                self.step_down("the lease could not be refreshed")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("lease round failed")
            if self._epoch is not None:
                self.step_down("the lease round failed")

    async def _claim(self, revision: int) -> int:
        try:
            return await self._fence.claim(revision)
        except BaseException:
            # Holding a lease without an epoch would keep every instance from leading until it expires.
            with contextlib.suppress(Exception):
                await self._lease.release()
            raise

    def step_down(self, why: str) -> None:
        if self._epoch is not None:
            log.warning("stepping down from epoch %d: %s", self._epoch, why)
        self._epoch = None

    async def resign(self) -> None:
        """Hand the lease over at once (on stop) instead of letting it expire."""
        if self._epoch is not None:
            self._epoch = None
            with contextlib.suppress(Exception):
                await self._lease.release()
