"""Events a node agent emits (stream AGENT, subjects agent.v1.<node_id>.*)."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator

from shared.events.base import Contract, Event
from shared.events.jobs import DEFAULT_POOL, POOL_NAME_PATTERN

# The node label naming the pool the node belongs to (DEFAULT_POOL when absent).
POOL_LABEL = "pool"


def checked_pool_label(labels: dict[str, str]) -> dict[str, str]:
    """The labels, when their pool label (if any) is a pool name; else ValueError."""
    pool = labels.get(POOL_LABEL)
    if pool is not None and not re.fullmatch(POOL_NAME_PATTERN, pool):
        raise ValueError(f"label {POOL_LABEL}={pool!r} is not a pool name ({POOL_NAME_PATTERN})")
    return labels


class _AgentEvent(Event):
    PRODUCER: ClassVar[str] = "agent"


class GpuInfo(Contract):
    uuid: str
    index: int
    model: str
    memory_mib: int
    mig_mode: bool = False


class RunningWorkload(Contract):
    job_id: str
    allocation_id: str
    replica: int
    pid: int


class ExitedWorkload(Contract):
    """A workload whose end the agent found at its restart: it ended while the agent was away."""

    job_id: str
    allocation_id: str
    replica: int
    exit_code: int
    # True when it ended after a stop command (cancel, preemption), not on its own.
    stopped: bool = False


class NodeRegistered(_AgentEvent):
    """An agent (re)starting: its node, and every allocation it accounts for, so the scheduler can reconcile.

    An allocation the agent lists, in any of the lists, has its end reported by the agent (or reported
    here): the scheduler must not infer it ended. One it does not list, whose start the agent reported
    before this registration, is gone (its state was lost). Start commands still queued for the agent
    are not listed: the agent reports them started (or refused) once it takes them.
    """

    TYPE: ClassVar[str] = "agent.v1.registered"
    SUBJECT: ClassVar[str] = "agent.v1.{node_id}.registered"
    ENTITY_FIELD: ClassVar[str | None] = "node_id"
    node_id: str
    hostname: str
    backend: str  # nvml | simulated
    gpus: list[GpuInfo]
    labels: dict[str, str] = Field(default_factory=dict)
    # What still runs after an agent restart (adopted processes).
    running: list[RunningWorkload] = Field(default_factory=list)
    # What ended while the agent was away, with the exit codes (also reported as WorkloadExited).
    exited: list[ExitedWorkload] = Field(default_factory=list)
    # Allocation ids the agent holds without a process now: accepted starts not launched yet, inference
    # replicas waiting to restart.
    held: list[str] = Field(default_factory=list)
    # Allocation ids whose end the agent reported lately (an exit reported just before a crash may
    # still be on its way to the scheduler).
    finished: list[str] = Field(default_factory=list)

    @property
    def accounted_for(self) -> set[str]:
        """Every allocation the agent accounts for: running, ended while away, held or finished."""
        return (
            {w.allocation_id for w in self.running}
            | {w.allocation_id for w in self.exited}
            | set(self.held)
            | set(self.finished)
        )

    @field_validator("labels")
    @classmethod
    def _pool_label_is_a_pool_name(cls, labels: dict[str, str]) -> dict[str, str]:
        return checked_pool_label(labels)

    @property
    def pool(self) -> str:
        return self.labels.get(POOL_LABEL, DEFAULT_POOL)


class Heartbeat(_AgentEvent):
    TYPE: ClassVar[str] = "agent.v1.heartbeat"
    SUBJECT: ClassVar[str] = "agent.v1.{node_id}.heartbeat"
    ENTITY_FIELD: ClassVar[str | None] = "node_id"
    node_id: str
    running: list[RunningWorkload] = Field(default_factory=list)


class WorkloadStarted(_AgentEvent):
    TYPE: ClassVar[str] = "agent.v1.workload.started"
    SUBJECT: ClassVar[str] = "agent.v1.{node_id}.workload.started"
    ENTITY_FIELD: ClassVar[str | None] = "allocation_id"
    node_id: str
    job_id: str
    allocation_id: str
    replica: int
    pid: int
    epoch: int


class WorkloadExited(_AgentEvent):
    TYPE: ClassVar[str] = "agent.v1.workload.exited"
    SUBJECT: ClassVar[str] = "agent.v1.{node_id}.workload.exited"
    ENTITY_FIELD: ClassVar[str | None] = "allocation_id"
    node_id: str
    job_id: str
    allocation_id: str
    replica: int
    exit_code: int
    # True for an inference replica the agent restarts on its own.
    will_restart: bool = False
    # True when the exit followed a stop command (cancel, preemption), not the workload's own end.
    stopped: bool = False
    # True when the start was refused by the node and never ran, for the platform's state (a stale
    # epoch, GPUs held by another workload there), not the job's: the job goes back to its queue.
    refused: bool = False


class UsageSampled(_AgentEvent):
    """One GPU's usage over the window that ended at occurred_at."""

    TYPE: ClassVar[str] = "agent.v1.usage.sampled"
    SUBJECT: ClassVar[str] = "agent.v1.{node_id}.usage.sampled"
    ENTITY_FIELD: ClassVar[str | None] = "gpu_uuid"
    node_id: str
    gpu_uuid: str
    gpu_model: str
    window_s: float = Field(gt=0)
    utilization_pct: float = Field(ge=0, le=100)
    memory_used_mib: int = Field(ge=0)
    power_w: float = Field(ge=0)
    # Joules since the previous sample; after a counter reset, the energy counted since the reset.
    energy_j: float = Field(ge=0)
    counter_reset: bool = False
    # The allocations whose workloads ran on this GPU when the sample was taken; None from older agents.
    # Ingest bills an allocation whose release it has not heard of yet only for samples that list it.
    allocation_ids: list[str] | None = None


class HealthChanged(_AgentEvent):
    TYPE: ClassVar[str] = "agent.v1.health.changed"
    SUBJECT: ClassVar[str] = "agent.v1.{node_id}.health.changed"
    ENTITY_FIELD: ClassVar[str | None] = "node_id"
    node_id: str
    gpu_uuid: str | None = None
    healthy: bool
    reason: str = ""
