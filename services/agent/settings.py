"""The node agent's settings: environment variables AIFACTORY_AGENT_*, overridden by command-line flags."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from services.agent.runtime.sandbox import DEFAULT_UID_RANGE, UidScope, uid_range
from shared.events.agent import checked_pool_label
from shared.settings import PlatformSettings


def default_node_id() -> str:
    """The host's short name, made safe as a NATS subject token (no dots or wildcards)."""
    short = socket.gethostname().split(".", 1)[0]
    return re.sub(r"[^A-Za-z0-9_-]", "-", short) or "node"


class AgentSettings(PlatformSettings):
    """Field `agent_x` is read from AIFACTORY_AGENT_X (the platform's AIFACTORY_ prefix + field name)."""

    agent_node_id: str = Field(default_factory=default_node_id, min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    agent_backend: Literal["nvml", "simulated"] = "nvml"
    # The simulated backend's GPUs; NVML reports what the node really has.
    # Real nodes carry at most 16 GPUs; simulated ones may be larger to stand in for a fleet in benchmarks.
    agent_gpus: int = Field(default=8, ge=0, le=1024)
    agent_gpu_model: str = "A100"
    agent_seed: int | None = 0
    # Default: .aifactory/agents/<node_id> under the working directory.
    agent_state_dir: Path | None = None
    # JSON in the environment: AIFACTORY_AGENT_LABELS='{"rack": "r1"}'. Label `pool` names the node's
    # scheduling pool (default: "default").
    agent_labels: dict[str, str] = Field(default_factory=dict)
    agent_heartbeat_s: float = Field(default=2.0, gt=0)
    agent_sample_s: float = Field(default=5.0, gt=0)
    # The longest grace a stop command gets before SIGKILL (a command asks for its own grace_s).
    agent_stop_grace_s: float = Field(default=60.0, ge=0)
    # Inference replicas restart after base, 2*base, ... up to max seconds.
    agent_restart_backoff_s: float = Field(default=1.0, gt=0)
    agent_restart_backoff_max_s: float = Field(default=30.0, gt=0)
    # How often running processes are checked for an exit.
    agent_poll_s: float = Field(default=0.2, gt=0)
    # Workloads end when the agent dies, even by SIGKILL (an embedded factory: `aifactory up`). Off, as a
    # real node wants: its workloads run on through an agent restart, which adopts them.
    agent_workloads_die_with_agent: bool = False
    # The workload sandbox (docs/workload-sandbox.md): bubblewrap confines every workload. Off
    # (AIFACTORY_AGENT_SANDBOX=off) runs them unconfined as the agent's own user: trusted workloads only.
    agent_sandbox: bool = True
    agent_sandbox_bwrap: str = "bwrap"  # a path, or a name looked up on PATH
    # The UIDs (and GIDs) workloads run as when the agent is root: none may belong to anyone else.
    agent_workload_uid_range: str = DEFAULT_UID_RANGE
    # One UID per tenant (its workloads on this node share it) or per allocation.
    agent_workload_uid_per: UidScope = "tenant"
    # Host paths workloads see besides the system directories and the agent's Python, as JSON lists:
    # AIFACTORY_AGENT_SANDBOX_READ_ONLY='["/opt/models"]'. The agent's state directory never shows.
    agent_sandbox_read_only: list[Path] = Field(default_factory=list)
    agent_sandbox_read_write: list[Path] = Field(default_factory=list)
    # Where workloads start (AIFACTORY_AGENT_SANDBOX_START_IN): a shared path above; default their own
    # /workspace. `aifactory up` starts them in the directory it was run from, shared read-only.
    agent_sandbox_start_in: Path | None = None

    @field_validator("agent_labels")
    @classmethod
    def _pool_label_is_a_pool_name(cls, labels: dict[str, str]) -> dict[str, str]:
        return checked_pool_label(labels)

    @field_validator("agent_workload_uid_range")
    @classmethod
    def _a_uid_range(cls, text: str) -> str:
        uid_range(text)
        return text.strip()

    @property
    def workload_uids(self) -> range:
        return uid_range(self.agent_workload_uid_range)

    @property
    def state_dir(self) -> Path:
        return self.agent_state_dir or Path(".aifactory") / "agents" / self.agent_node_id
