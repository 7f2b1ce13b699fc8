"""Simulated GPUs for laptops, CI and the embedded platform: plausible, deterministic for a seed.

Utilization follows a random walk pulled towards a high level while a workload is bound to the GPU and
towards idle otherwise; power follows utilization between the model's idle and TDP; the energy counter
integrates power over the injected time source, so it only ever grows (unless a test resets it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.agent.gpu.backend import GpuQueryError, GpuReading
from shared.events.agent import GpuInfo


@dataclass(frozen=True)
class SimulatedModel:
    memory_mib: int
    idle_w: float
    tdp_w: float


MODELS = {
    "A100": SimulatedModel(memory_mib=81_920, idle_w=60.0, tdp_w=400.0),
    "H100": SimulatedModel(memory_mib=81_559, idle_w=70.0, tdp_w=700.0),
    "H200": SimulatedModel(memory_mib=143_771, idle_w=75.0, tdp_w=700.0),
    "L40S": SimulatedModel(memory_mib=46_068, idle_w=35.0, tdp_w=350.0),
    "A10": SimulatedModel(memory_mib=23_028, idle_w=20.0, tdp_w=150.0),
    "T4": SimulatedModel(memory_mib=15_360, idle_w=10.0, tdp_w=70.0),
}
DEFAULT_MODEL = SimulatedModel(memory_mib=81_920, idle_w=60.0, tdp_w=400.0)

BUSY_TARGET_PCT = 90.0
IDLE_TARGET_PCT = 2.0
PULL = 0.35  # how strongly each step moves towards the target
NOISE_PCT = 4.0


@dataclass
class _SimulatedGpu:
    info: GpuInfo
    utilization_pct: float = 0.0
    power_w: float = 0.0
    energy_mj: float = 0.0
    last_time: float = 0.0
    healthy: bool = True
    fault: str = ""


class SimulatedBackend:
    name = "simulated"

    def __init__(
        self,
        count: int,
        model: str = "A100",
        seed: int | None = 0,
        *,
        node_id: str = "node",
        time_source: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 0:
            raise ValueError(f"a node cannot have {count} GPUs")
        self._model = MODELS.get(model.upper(), DEFAULT_MODEL)
        self._random = random.Random(seed)
        self._time = time_source
        self._busy: frozenset[str] = frozenset()
        now = time_source()
        self._gpus = {
            gpu.uuid: _SimulatedGpu(info=gpu, power_w=self._model.idle_w, last_time=now)
            for gpu in (
                GpuInfo(
                    uuid=simulated_uuid(node_id, index),
                    index=index,
                    model=model,
                    memory_mib=self._model.memory_mib,
                )
                for index in range(count)
            )
        }

    def discover(self) -> list[GpuInfo]:
        return [gpu.info for gpu in self._gpus.values()]

    def sample(self, uuid: str) -> GpuReading:
        gpu = self._gpus.get(uuid)
        if gpu is None:
            raise GpuQueryError(f"no simulated GPU {uuid}")
        if not gpu.healthy:
            raise GpuQueryError(gpu.fault)
        self._advance(gpu)
        busy_share = gpu.utilization_pct / 100
        base_mib = 300 if uuid not in self._busy else int(self._model.memory_mib * 0.6)
        return GpuReading(
            utilization_pct=round(gpu.utilization_pct, 1),
            memory_used_mib=min(
                self._model.memory_mib, base_mib + int(self._model.memory_mib * 0.3 * busy_share)
            ),
            power_w=round(gpu.power_w, 1),
            energy_mj=int(gpu.energy_mj),
        )

    def _advance(self, gpu: _SimulatedGpu) -> None:
        now = self._time()
        elapsed = max(0.0, now - gpu.last_time)
        gpu.last_time = now
        target = BUSY_TARGET_PCT if gpu.info.uuid in self._busy else IDLE_TARGET_PCT
        step = PULL * (target - gpu.utilization_pct) + self._random.gauss(0.0, NOISE_PCT)
        gpu.utilization_pct = min(100.0, max(0.0, gpu.utilization_pct + step))
        previous_power = gpu.power_w
        gpu.power_w = (
            self._model.idle_w + (self._model.tdp_w - self._model.idle_w) * gpu.utilization_pct / 100
        )
        # Trapezoid between the last two power levels: joules * 1000 = millijoules.
        gpu.energy_mj += (previous_power + gpu.power_w) / 2 * elapsed * 1000

    def device_nodes(self, uuids: Sequence[str]) -> list[str]:
        """Simulated GPUs have no device files."""
        return []

    def set_busy(self, uuids: frozenset[str]) -> None:
        self._busy = frozenset(uuids)

    def mark_unhealthy(self, uuid: str, reason: str = "simulated fault") -> None:
        gpu = self._gpus[uuid]
        gpu.healthy, gpu.fault = False, reason

    def mark_healthy(self, uuid: str) -> None:
        gpu = self._gpus[uuid]
        gpu.healthy, gpu.fault = True, ""

    def reset_energy_counter(self, uuid: str) -> None:
        """As a driver reload does: the counter starts again from zero."""
        self._gpus[uuid].energy_mj = 0.0

    def close(self) -> None:
        """Nothing to release."""


def simulated_uuid(node_id: str, index: int) -> str:
    return f"GPU-sim-{node_id}-{index}"
