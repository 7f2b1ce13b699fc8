"""The port through which the agent sees its GPUs: NVML on real nodes, a simulation elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.events.agent import GpuInfo


class GpuBackendUnavailable(RuntimeError):
    """The chosen backend cannot start (no driver, no NVML): fatal, never a silent fallback."""


class GpuQueryError(RuntimeError):
    """A GPU did not answer a query: the agent reports it unhealthy until it answers again."""


@dataclass(frozen=True)
class GpuReading:
    """One raw reading of a GPU, as the driver gives it."""

    utilization_pct: float
    memory_used_mib: int
    power_w: float
    # NVML's cumulative energy counter in millijoules (since driver load); None where unsupported.
    energy_mj: int | None


class GpuBackend(Protocol):
    name: str  # nvml | simulated, as reported in NodeRegistered.backend

    def discover(self) -> list[GpuInfo]: ...

    def sample(self, uuid: str) -> GpuReading:
        """Raises GpuQueryError when the GPU cannot be read."""
        ...

    def device_nodes(self, uuids: Sequence[str]) -> list[str]:
        """The device files a workload bound to these GPUs needs (the sandbox binds only those): none
        for the simulation."""
        ...

    def set_busy(self, uuids: frozenset[str]) -> None:
        """The GPUs that workloads are bound to now (the simulation loads them; NVML ignores it)."""
        ...

    def close(self) -> None: ...
