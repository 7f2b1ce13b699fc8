"""On a machine with an NVIDIA GPU: the NVML backend, GPU binding and the energy counter, for real.

Run by bench/gpu_check.sh (`pytest -m gpu`); skipped with the reason where NVML cannot start.
AIFACTORY_GPU_CHECK_SECONDS sets the busy window (default 60).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from services.agent.domain.energy import energy_between
from services.agent.domain.state import WorkloadRecord
from services.agent.gpu.nvml import NvmlBackend
from services.agent.runtime.processes import ProcessRuntime
from shared.events.agent import GpuInfo

pytestmark = pytest.mark.gpu

PROBE = str(Path(__file__).with_name("gpu_probe.py"))
BUSY_S = float(os.environ.get("AIFACTORY_GPU_CHECK_SECONDS", "60"))


def workload(runtime: ProcessRuntime, name: str, command: list[str], gpu_uuids: list[str]) -> WorkloadRecord:
    exit_file, log_file = runtime.files_for(name, 0, name)
    record = WorkloadRecord(
        job_id=name, allocation_id=name, replica=0, kind="training", command=command, env={},
        gpu_uuids=gpu_uuids, epoch=1, exit_file=exit_file, log_file=log_file,
    )  # fmt: skip
    record.pid = runtime.launch(record)
    return record


def wait_exit(runtime: ProcessRuntime, record: WorkloadRecord, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while (code := runtime.exit_code(record)) is None:
        assert time.monotonic() < deadline, f"{record.job_id} still runs after {timeout_s}s"
        time.sleep(0.1)
    return code


def test_nvml_lists_the_gpus(gpus: list[GpuInfo]) -> None:
    for gpu in gpus:
        print(
            f"GPU {gpu.index}: {gpu.uuid} {gpu.model} {gpu.memory_mib} MiB MIG {'on' if gpu.mig_mode else 'off'}"
        )
    assert all(gpu.uuid.startswith(("GPU-", "MIG-")) and gpu.memory_mib > 0 and gpu.model for gpu in gpus)
    assert [gpu.index for gpu in gpus] == list(range(len(gpus)))


def test_a_workload_sees_only_its_bound_gpu(gpus: list[GpuInfo], tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path)
    bound = gpus[-1].uuid
    seen = workload(runtime, "bound", [sys.executable, PROBE, "visible"], [bound])
    hidden = workload(runtime, "hidden", [sys.executable, PROBE, "visible"], [])

    assert wait_exit(runtime, seen, 60) == 0, Path(seen.log_file).read_text()
    assert wait_exit(runtime, hidden, 60) == 0, Path(hidden.log_file).read_text()
    assert probe_result(seen) == [bound]
    assert probe_result(hidden) == []  # bound to nothing, sees nothing

    if shutil.which("nvidia-smi"):
        # nvidia-smi reads NVML, which ignores CUDA_VISIBLE_DEVICES: informative only on multi-GPU nodes.
        listed = workload(runtime, "smi", ["nvidia-smi", "-L"], [bound])
        assert wait_exit(runtime, listed, 60) == 0
        log = Path(listed.log_file).read_text()
        print(log)
        assert bound in log
        if len(gpus) == 1:
            assert log.count("UUID: GPU-") == 1


def probe_result(record: WorkloadRecord) -> list[str]:
    for line in Path(record.log_file).read_text().splitlines():
        if line.startswith("{"):
            return list(json.loads(line)["visible"])
    raise AssertionError(f"no probe output in {record.log_file}")


def test_the_energy_counter_grows_over_a_busy_window(
    nvml: NvmlBackend, gpus: list[GpuInfo], tmp_path: Path
) -> None:
    gpu = gpus[0]
    before = nvml.sample(gpu.uuid)
    if before.energy_mj is None:
        pytest.skip(f"no energy counter on {gpu.model}: NVML reports it unsupported")
    runtime = ProcessRuntime(tmp_path)
    started = time.monotonic()
    busy = workload(runtime, "busy", [sys.executable, PROBE, "busy", str(BUSY_S)], [gpu.uuid])
    peak = 0.0
    while runtime.exit_code(busy) is None and time.monotonic() - started < BUSY_S + 60:
        peak = max(peak, nvml.sample(gpu.uuid).utilization_pct)
        time.sleep(1)
    code = wait_exit(runtime, busy, 30)
    after = nvml.sample(gpu.uuid)
    elapsed = time.monotonic() - started
    assert after.energy_mj is not None

    delta = energy_between(before.energy_mj, after.energy_mj)
    load = (
        "busy"
        if code == 0
        else f"idle (the load failed, exit {code}: {Path(busy.log_file).read_text()[-300:]})"
    )
    print(
        f"{gpu.uuid}: {delta.joules:.0f} J over {elapsed:.0f} s {load}, "
        f"mean {delta.joules / elapsed:.0f} W, peak utilization {peak:.0f}%"
    )
    assert not delta.counter_reset
    assert delta.joules > 0
