"""GPUs read through NVML (the nvidia-ml-py package, imported as pynvml)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from services.agent.gpu.backend import GpuBackendUnavailable, GpuQueryError, GpuReading
from shared.events.agent import GpuInfo

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# What every CUDA process opens besides its GPUs' own /dev/nvidiaN (where the driver created them).
CONTROL_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")


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

    def __init__(
        self, nvml: Any | None = None, *, device_exists: Callable[[str], bool] = os.path.exists
    ) -> None:
        """`nvml` is the pynvml module; tests hand in a stand-in (and what device files exist)."""
        self._nvml: Any = nvml if nvml is not None else _import_pynvml()
        self._device_exists = device_exists
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

    def device_nodes(self, uuids: Sequence[str]) -> list[str]:
        """/dev/nvidia<minor> of each GPU (a MIG instance's: its parent GPU's), then the control devices;
        none for no GPU. Raises GpuQueryError when a GPU does not answer."""
        nvml = self._nvml
        nodes: list[str] = []
        try:
            for uuid in uuids:
                handle = self._handles.get(uuid) or nvml.nvmlDeviceGetHandleByUUID(uuid)
                if uuid.startswith("MIG-"):
                    handle = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle)
                node = f"/dev/nvidia{int(nvml.nvmlDeviceGetMinorNumber(handle))}"
                if node not in nodes:
                    nodes.append(node)
        except nvml.NVMLError as error:
            raise GpuQueryError(f"NVML cannot name the device files of {list(uuids)}: {error}") from error
        if not nodes:
            return []
        return nodes + [device for device in CONTROL_DEVICES if self._device_exists(device)]

    def set_busy(self, uuids: frozenset[str]) -> None:
        """Real GPUs are loaded by the workloads themselves."""

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError as error:
            log.warning("NVML shutdown failed: %s", error)
