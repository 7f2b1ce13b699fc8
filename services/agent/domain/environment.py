"""The environment a workload process sees."""

from __future__ import annotations

from collections.abc import Mapping

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
PLATFORM_PREFIX = "AIFACTORY_"


def workload_environment(
    agent_env: Mapping[str, str],
    spec_env: Mapping[str, str],
    *,
    gpu_uuids: list[str],
    job_id: str,
    allocation_id: str,
    replica: int,
) -> dict[str, str]:
    """The agent's environment, then the job's, then what the platform sets (which always wins).

    The agent's own AIFACTORY_* settings are left out: they configure the agent (and may hold
    credentials in URLs), not the workload.

    CUDA_VISIBLE_DEVICES lists the bound GPUs by UUID, so a workload sees exactly its GPUs whatever
    their index on the node; an empty list hides every GPU.
    """
    env = {name: value for name, value in agent_env.items() if not name.startswith(PLATFORM_PREFIX)}
    env.update(spec_env)
    env[CUDA_VISIBLE_DEVICES] = ",".join(gpu_uuids)
    env["AIFACTORY_JOB_ID"] = job_id
    env["AIFACTORY_ALLOCATION_ID"] = allocation_id
    env["AIFACTORY_REPLICA"] = str(replica)
    return env
