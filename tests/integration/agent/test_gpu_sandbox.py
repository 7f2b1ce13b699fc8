"""On a machine with an NVIDIA GPU: the sandbox binds only a workload's own GPUs' device nodes (as the NVML
backend names them), so a workload that resets CUDA_VISIBLE_DEVICES still sees no other GPU.

Run with `pytest -m gpu tests/integration/agent`; skipped with the reason where NVML cannot start.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from services.agent.domain.state import WorkloadRecord
from services.agent.gpu.nvml import NvmlBackend
from services.agent.runtime.processes import ProcessRuntime
from services.agent.runtime.sandbox_host import create_sandbox
from services.agent.settings import AgentSettings
from shared.events.agent import GpuInfo

pytestmark = pytest.mark.gpu

PROBE = Path(__file__).with_name("gpu_probe.py")
# The workload undoes the agent's binding before CUDA starts.
UNBOUND_BY_HAND = [
    "/bin/sh",
    "-c",
    'unset CUDA_VISIBLE_DEVICES; exec "$0" "$@"',
    sys.executable,
    str(PROBE),
    "visible",
]


def run(runtime: ProcessRuntime, name: str, gpu_uuids: list[str]) -> tuple[int, str]:
    exit_file, log_file = runtime.files_for(name, 0, name)
    record = WorkloadRecord(
        job_id=name, allocation_id=name, replica=0, kind="training", command=UNBOUND_BY_HAND, env={},
        gpu_uuids=gpu_uuids, epoch=1, exit_file=exit_file, log_file=log_file, tenant_id="t1",
    )  # fmt: skip
    record.pid = runtime.launch(record)
    deadline = time.monotonic() + 60
    while (code := runtime.exit_code(record)) is None:
        assert time.monotonic() < deadline, f"{name} still runs"
        time.sleep(0.1)
    return code, Path(log_file).read_text()


def visible(log: str) -> list[str]:
    return next(json.loads(line)["visible"] for line in log.splitlines() if line.startswith("{"))


def test_a_workload_that_resets_cuda_visible_devices_sees_only_its_own_gpu(
    nvml: NvmlBackend, gpus: list[GpuInfo], tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    settings = AgentSettings(agent_state_dir=state_dir, agent_sandbox_read_only=[PROBE.parent])
    sandbox = create_sandbox(settings, nvml.device_nodes)
    assert sandbox is not None and sandbox.unavailable() is None
    runtime = ProcessRuntime(state_dir, sandbox=sandbox)

    code, log = run(runtime, "bound", [gpus[-1].uuid])
    assert code == 0, log
    assert visible(log) == [gpus[-1].uuid]  # not every GPU of the node, though the variable is gone

    code, log = run(runtime, "none", [])
    # No device node at all: CUDA finds no device, or cannot start.
    assert (code == 0 and visible(log) == []) or "cuInit failed" in log, log
