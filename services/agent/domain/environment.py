"""The environment a workload process sees: built from scratch, never the agent's own.

The agent's environment holds its settings and, started by a launcher, possibly secrets (an operator
key, a database URL with its password); a workload is tenants' code, so none of it is passed on.
"""

from __future__ import annotations

from collections.abc import Mapping

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
PLATFORM_PREFIX = "AIFACTORY_"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_LANG = "C.UTF-8"


def base_environment(agent_env: Mapping[str, str], *, home: str) -> dict[str, str]:
    """What every workload starts from: the agent's PATH and LANG (no secret: where programs are and how
    text is encoded), and `home` as HOME."""
    return {
        "PATH": agent_env.get("PATH") or DEFAULT_PATH,
        "HOME": home,
        "LANG": agent_env.get("LANG") or DEFAULT_LANG,
    }


def workload_environment(
    base: Mapping[str, str],
    spec_env: Mapping[str, str],
    *,
    gpu_uuids: list[str],
    job_id: str,
    allocation_id: str,
    replica: int,
) -> dict[str, str]:
    """The base (PATH, HOME, LANG), then the job's own variables, then what the platform sets (which
    always wins). The base never carries the platform's AIFACTORY_* settings.

    CUDA_VISIBLE_DEVICES lists the bound GPUs by UUID, so a workload sees exactly its GPUs whatever
    their index on the node; an empty list hides every GPU. (In the sandbox only the bound GPUs' device
    nodes exist besides: resetting the variable shows no other GPU.)
    """
    env = {name: value for name, value in base.items() if not name.startswith(PLATFORM_PREFIX)}
    env.update(spec_env)
    env[CUDA_VISIBLE_DEVICES] = ",".join(gpu_uuids)
    env["AIFACTORY_JOB_ID"] = job_id
    env["AIFACTORY_ALLOCATION_ID"] = allocation_id
    env["AIFACTORY_REPLICA"] = str(replica)
    return env
