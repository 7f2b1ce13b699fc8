"""The NVML backend against a stand-in for the pynvml module (real NVML runs in test_gpu.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from services.agent.gpu.backend import GpuBackendUnavailable, GpuQueryError
from services.agent.gpu.nvml import NvmlBackend


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801 - named as pynvml names it
    pass


class FakeNvml:
    """Two GPUs: an A100 with MIG on and an energy counter, a T4 without MIG support or counter."""

    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVML_DEVICE_MIG_ENABLE = 1

    def __init__(self, init_error: str | None = None) -> None:
        self.init_error = init_error
        self.broken: set[int] = set()
        self.shut_down = False

    def nvmlInit(self) -> None:
        if self.init_error:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shut_down = True

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        return {"GPU-1111": 0, "GPU-2222": 1}[uuid]

    def nvmlDeviceGetUUID(self, handle: int) -> Any:
        return [b"GPU-1111", "GPU-2222"][handle]  # older releases return bytes

    def nvmlDeviceGetName(self, handle: int) -> str:
        return ["NVIDIA A100-SXM4-80GB", "Tesla T4"][handle]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        total = [80 * 1024**3, 16 * 1024**3][handle]
        return SimpleNamespace(total=total, used=total // 4)

    def nvmlDeviceGetMigMode(self, handle: int) -> list[int]:
        if handle == 1:
            raise NVMLError_NotSupported("Not Supported")
        return [1, 1]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        if handle in self.broken:
            raise NVMLError("GPU is lost")
        return SimpleNamespace(gpu=[73, 5][handle])

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return [312_500, 27_000][handle]  # milliwatts

    def nvmlDeviceGetMinorNumber(self, handle: int) -> int:
        if handle in self.broken:
            raise NVMLError("GPU is lost")
        return [4, 7][handle]  # minors need not follow indexes

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        if handle == 1:
            raise NVMLError_NotSupported("Not Supported")
        return 987_654_321


def test_an_nvml_that_cannot_start_is_a_clear_fatal_error() -> None:
    with pytest.raises(GpuBackendUnavailable) as raised:
        NvmlBackend(FakeNvml(init_error="Driver Not Loaded"))
    assert (
        str(raised.value)
        == "NVML not available: Driver Not Loaded; pass --backend simulated to simulate GPUs"
    )


def test_discovery_reports_uuid_model_memory_and_mig_mode() -> None:
    gpus = NvmlBackend(FakeNvml()).discover()

    assert [(g.uuid, g.index, g.model, g.memory_mib, g.mig_mode) for g in gpus] == [
        ("GPU-1111", 0, "NVIDIA A100-SXM4-80GB", 81_920, True),
        ("GPU-2222", 1, "Tesla T4", 16_384, False),  # MIG not supported means off
    ]


def test_a_sample_converts_units_and_tolerates_a_missing_energy_counter() -> None:
    backend = NvmlBackend(FakeNvml())
    backend.discover()

    a100 = backend.sample("GPU-1111")
    assert (a100.utilization_pct, a100.memory_used_mib, a100.power_w, a100.energy_mj) == (
        73.0,
        20_480,
        312.5,
        987_654_321,
    )
    t4 = backend.sample("GPU-2222")
    assert t4.energy_mj is None and t4.power_w == 27.0


def test_a_device_query_error_is_a_gpu_query_error() -> None:
    nvml = FakeNvml()
    nvml.broken.add(0)
    with pytest.raises(GpuQueryError, match="GPU-1111.*GPU is lost"):
        NvmlBackend(nvml).sample("GPU-1111")


def test_close_shuts_nvml_down() -> None:
    nvml = FakeNvml()
    NvmlBackend(nvml).close()
    assert nvml.shut_down


def test_device_nodes_are_each_gpus_own_then_the_control_devices_present() -> None:
    present = {"/dev/nvidiactl", "/dev/nvidia-uvm"}
    backend = NvmlBackend(FakeNvml(), device_exists=present.__contains__)
    backend.discover()

    assert backend.device_nodes(["GPU-2222"]) == ["/dev/nvidia7", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    assert backend.device_nodes(["GPU-1111", "GPU-2222"])[:2] == ["/dev/nvidia4", "/dev/nvidia7"]
    assert backend.device_nodes([]) == []  # bound to no GPU: no device node at all


def test_a_gpu_that_cannot_name_its_device_node_is_a_gpu_query_error() -> None:
    nvml = FakeNvml()
    nvml.broken.add(1)
    with pytest.raises(GpuQueryError, match="GPU-2222"):
        NvmlBackend(nvml).device_nodes(["GPU-2222"])
