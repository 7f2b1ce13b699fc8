"""The cycle loop: on the leader only, right after a wake-up and at least every cycle interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.scheduler.app.cycle import CycleReport, SchedulingCycle
from services.scheduler.app.leadership import Leadership
from services.scheduler.app.ports import ConcurrentChange, StaleEpoch
from shared.clock import Clock

log = logging.getLogger(__name__)

FAILURE_BACKOFF_S = 1.0


class CycleRunner:
    def __init__(
        self,
        cycle: SchedulingCycle,
        leadership: Leadership,
        clock: Clock,
        interval_s: float,
        *,
        min_spacing_s: float = 0.0,
    ) -> None:
        self._cycle = cycle
        self._leadership = leadership
        self._clock = clock
        self._interval_s = interval_s
        self._min_spacing_s = min_spacing_s
        self._wake = asyncio.Event()
        self.last_report: CycleReport | None = None

    def wake(self) -> None:
        """Something may free or need GPUs: run a cycle now (events arriving meanwhile fold into it)."""
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last_start = -self._min_spacing_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            # Wake-ups arriving during the pause fold into this cycle.
            await asyncio.sleep(max(0.0, last_start + self._min_spacing_s - loop.time()))
            self._wake.clear()
            last_start = loop.time()
            await self.run_once()

    async def run_once(self) -> None:
        epoch = self._leadership.epoch
        if epoch is None:
            return
        try:
            self.last_report = await self._cycle.run(epoch, self._clock.now())
        except StaleEpoch as error:
            self._leadership.step_down(str(error))
        except ConcurrentChange as error:
            log.info("cycle retried: %s", error)
            self._wake.set()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduling cycle failed; retrying")
            await asyncio.sleep(FAILURE_BACKOFF_S)
            self._wake.set()
