"""The backend the settings choose; NVML failing to start is fatal, never a silent simulation."""

from __future__ import annotations

from services.agent.gpu.backend import GpuBackend
from services.agent.gpu.nvml import NvmlBackend
from services.agent.gpu.simulated import SimulatedBackend
from services.agent.settings import AgentSettings


def create_backend(settings: AgentSettings) -> GpuBackend:
    if settings.agent_backend == "simulated":
        return SimulatedBackend(
            settings.agent_gpus,
            settings.agent_gpu_model,
            settings.agent_seed,
            node_id=settings.agent_node_id,
        )
    return NvmlBackend()  # raises GpuBackendUnavailable with what to do instead
