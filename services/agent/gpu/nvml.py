"""GPUs read through NVML (the nvidia-ml-py package, imported as pynvml)."""

from __future__ import annotations

import logging
from typing import Any

from services.agent.gpu.backend import GpuBackendUnavailable, GpuQueryError, GpuReading
from shared.events.agent import GpuInfo

log = logging.getLogger(__name__)

MIB = 1024 * 1024


def _text(value: str | bytes) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode() if isinstance(value, bytes) else value


def _import_pynvml() -> Any:
    try:
        import pynvml
    except ImportError as error:  # nvidia-ml-py is a dependency, but a broken install says so clearly
        raise GpuBackendUnavailable(
            f"NVML not available: {error}; pass --backend simulated to simulate GPUs"
        ) from error
    return pynvml


class NvmlBackend:
    name = "nvml"

    def __init__(self, nvml: Any | None = None) -> None:
        """`nvml` is the pynvml module; tests hand in a stand-in."""
        self._nvml: Any = nvml if nvml is not None else _import_pynvml()
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as error:
            raise GpuBackendUnavailable(
                f"NVML not available: {error}; pass --backend simulated to simulate GPUs"
            ) from error
        self._handles: dict[str, Any] = {}

    def discover(self) -> list[GpuInfo]:
        nvml = self._nvml
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            self._handles[uuid] = handle
            gpus.append(
                GpuInfo(
                    uuid=uuid,
                    index=index,
                    model=_text(nvml.nvmlDeviceGetName(handle)),
                    memory_mib=int(nvml.nvmlDeviceGetMemoryInfo(handle).total // MIB),
                    mig_mode=self._mig_enabled(handle),
                )
            )
        return gpus

    def _mig_enabled(self, handle: Any) -> bool:
        nvml = self._nvml
        try:
            current, _pending = nvml.nvmlDeviceGetMigMode(handle)
        except nvml.NVMLError_NotSupported:
            return False  # GPUs before Ampere have no MIG
        return bool(current == nvml.NVML_DEVICE_MIG_ENABLE)

    def sample(self, uuid: str) -> GpuReading:
        nvml = self._nvml
        try:
            handle = self._handles.get(uuid) or nvml.nvmlDeviceGetHandleByUUID(uuid)
            utilization = nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            memory_used = nvml.nvmlDeviceGetMemoryInfo(handle).used // MIB
            power_w = self._optional(nvml.nvmlDeviceGetPowerUsage, handle, 0) / 1000  # NVML gives mW
            energy_mj = self._optional(nvml.nvmlDeviceGetTotalEnergyConsumption, handle, None)
        except nvml.NVMLError as error:
            raise GpuQueryError(f"NVML query of {uuid} failed: {error}") from error
        return GpuReading(
            utilization_pct=float(utilization),
            memory_used_mib=int(memory_used),
            power_w=float(power_w),
            energy_mj=None if energy_mj is None else int(energy_mj),
        )

    def _optional(self, query: Any, handle: Any, default: Any) -> Any:
        """Power and energy are missing on some boards (NotSupported); that is not a fault of the GPU."""
        try:
            return query(handle)
        except self._nvml.NVMLError_NotSupported:
            return default

    def set_busy(self, uuids: frozenset[str]) -> None:
        """Real GPUs are loaded by the workloads themselves."""

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError as error:
            log.warning("NVML shutdown failed: %s", error)
