"""Events the scheduler emits (stream SCHEDULER) and its commands to agents (subjects agent.v1.<node>.cmd.*,
stored in the AGENT stream so that an agent that was away still receives them)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from shared.events.base import Event
from shared.events.jobs import WHOLE_GPU_SHARE, GpuShare, JobKind, JobState


class _SchedulerEvent(Event):
    PRODUCER: ClassVar[str] = "scheduler"


class JobStateChanged(_SchedulerEvent):
    TYPE: ClassVar[str] = "scheduler.v1.job.state_changed"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "job_id"
    tenant_id: str
    project_id: str
    job_id: str
    state: JobState
    reason: str = ""
    # Grows by one with every change of a job, so read models ignore an older change that arrives late.
    version: int = Field(ge=1)


class AllocationBound(_SchedulerEvent):
    """GPUs of one node bound to one replica of a job: the start of a billable interval."""

    TYPE: ClassVar[str] = "scheduler.v1.allocation.bound"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "allocation_id"
    tenant_id: str
    project_id: str
    job_id: str
    allocation_id: str
    replica: int
    node_id: str
    gpu_model: str
    gpu_uuids: list[str]
    bound_at: datetime
    epoch: int
    # The share of each of those GPUs (below 1: time-sliced with other allocations; absent: 1).
    gpu_share: GpuShare = WHOLE_GPU_SHARE


class AllocationReleased(_SchedulerEvent):
    """The end of a billable interval (job ended, cancelled, preempted, or its node declared lost)."""

    TYPE: ClassVar[str] = "scheduler.v1.allocation.released"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "allocation_id"
    tenant_id: str
    project_id: str
    job_id: str
    allocation_id: str
    node_id: str
    gpu_model: str
    gpu_count: int
    bound_at: datetime
    released_at: datetime
    reason: str
    epoch: int
    # The share of each GPU it held (absent: 1); billed GPU-seconds are seconds x gpu_count x gpu_share.
    gpu_share: GpuShare = WHOLE_GPU_SHARE


class NodeStateChanged(_SchedulerEvent):
    """The scheduler's view of a node, for read models (the gateway's fleet limits)."""

    TYPE: ClassVar[str] = "scheduler.v1.node.state_changed"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "node_id"
    node_id: str
    state: str  # ready | lost
    gpu_model: str
    gpu_count: int


class StartWorkload(_SchedulerEvent):
    TYPE: ClassVar[str] = "agent.v1.cmd.start"
    SUBJECT: ClassVar[str] = "agent.v1.{node_id}.cmd.start"
    ENTITY_FIELD: ClassVar[str | None] = "allocation_id"
    node_id: str
    epoch: int
    tenant_id: str
    project_id: str
    job_id: str
    allocation_id: str
    replica: int
    kind: JobKind
    command: list[str]
    env: dict[str, str]
    gpu_uuids: list[str]
    gpu_share: GpuShare = WHOLE_GPU_SHARE  # of each GPU (absent: 1)


class StopWorkload(_SchedulerEvent):
    TYPE: ClassVar[str] = "agent.v1.cmd.stop"
    SUBJECT: ClassVar[str] = "agent.v1.{node_id}.cmd.stop"
    ENTITY_FIELD: ClassVar[str | None] = "allocation_id"
    node_id: str
    epoch: int
    job_id: str
    allocation_id: str
    reason: str
    grace_s: float = 10.0
