"""Leadership: hold the lease while this instance runs, know the epoch, give it up on stop.

The lease is refreshed every third of its TTL. This instance stops deciding as soon as a refresh
fails, when its fenced write is refused, or when a whole TTL passed without a good refresh (its
lease may have expired and been taken), whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from services.scheduler.app.ports import Lease

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, lease: Lease, ttl_s: float) -> None:
        self._lease = lease
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
                epoch = await self._lease.acquire()
                if epoch is not None:
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
