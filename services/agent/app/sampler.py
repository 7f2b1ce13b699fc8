"""Per-GPU usage samples and health changes.

Each sample covers the window since the previous good reading of that GPU; its energy is the
difference of NVML's cumulative counter (a counter that went backwards was reset: the energy is then
what it counted since the reset), or power held over the window where a GPU has no counter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.agent.app.ports import EventPublisher
from services.agent.domain.energy import energy_between, estimated_energy
from services.agent.gpu.backend import GpuBackend, GpuQueryError, GpuReading
from shared.clock import Clock
from shared.events.agent import GpuInfo, HealthChanged, UsageSampled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Previous:
    at: float  # monotonic seconds
    energy_mj: int | None


class UsageSampler:
    def __init__(
        self,
        node_id: str,
        gpus: list[GpuInfo],
        backend: GpuBackend,
        publisher: EventPublisher,
        clock: Clock,
        *,
        running_on: Callable[[str], list[str]] = lambda _: [],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`running_on(gpu_uuid)`: the allocations whose workloads run on that GPU now."""
        self._node_id = node_id
        self._gpus = gpus
        self._backend = backend
        self._publisher = publisher
        self._clock = clock
        self._running_on = running_on
        self._monotonic = monotonic
        self._previous: dict[str, _Previous] = {}
        self._healthy: dict[str, bool] = {gpu.uuid: True for gpu in gpus}

    async def sample_once(self) -> None:
        """1. read each GPU; 2. report a health change; 3. report its usage since the previous reading."""
        for gpu in self._gpus:
            now = self._monotonic()
            try:
                # In a thread: a GPU falling off the bus can hang NVML for seconds, heartbeats must go on.
                reading = await asyncio.to_thread(self._backend.sample, gpu.uuid)
            except GpuQueryError as error:
                await self._set_health(gpu.uuid, healthy=False, reason=str(error))
                continue
            await self._set_health(gpu.uuid, healthy=True, reason="answers queries again")
            previous = self._previous.get(gpu.uuid)
            self._previous[gpu.uuid] = _Previous(now, reading.energy_mj)
            if previous is None or now <= previous.at:
                continue  # the first reading only sets the baseline
            await self._publisher.publish(self._usage(gpu, reading, previous, now - previous.at))

    def _usage(self, gpu: GpuInfo, reading: GpuReading, previous: _Previous, window_s: float) -> UsageSampled:
        if reading.energy_mj is not None and previous.energy_mj is not None:
            energy = energy_between(previous.energy_mj, reading.energy_mj)
        else:
            energy = estimated_energy(reading.power_w, window_s)
        if energy.counter_reset:
            log.warning("energy counter of %s went backwards: counted as reset", gpu.uuid)
        return UsageSampled(
            occurred_at=self._clock.now(),
            node_id=self._node_id,
            gpu_uuid=gpu.uuid,
            gpu_model=gpu.model,
            window_s=window_s,
            utilization_pct=min(100.0, max(0.0, reading.utilization_pct)),
            memory_used_mib=max(0, reading.memory_used_mib),
            power_w=max(0.0, reading.power_w),
            energy_j=energy.joules,
            counter_reset=energy.counter_reset,
            allocation_ids=self._running_on(gpu.uuid),
        )

    async def _set_health(self, uuid: str, *, healthy: bool, reason: str) -> None:
        if self._healthy.get(uuid, True) == healthy:
            return
        self._healthy[uuid] = healthy
        log.log(
            logging.INFO if healthy else logging.ERROR,
            "GPU %s %s: %s",
            uuid,
            "healthy" if healthy else "unhealthy",
            reason,
        )
        await self._publisher.publish(
            HealthChanged(
                occurred_at=self._clock.now(),
                node_id=self._node_id,
                gpu_uuid=uuid,
                healthy=healthy,
                reason=reason,
            )
        )
