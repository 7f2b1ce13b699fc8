"""What a scheduling cycle loads from the scheduler's tables, and what it asks the adapter to do.

Plain immutable values, no I/O. Times are epoch seconds (float) from the injected clock, the unit the
policy engine takes. A cycle loads a LiveState, turns it into the engine's Snapshot (snapshot.py),
lets the engine decide, and turns the decisions into Actions (actions.py) for the adapter to apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, Preempt, Stop
from shared.events.jobs import DEFAULT_POOL, JobState


@dataclass(frozen=True)
class FleetGpu:
    uuid: str
    model: str
    healthy: bool = True


@dataclass(frozen=True)
class FleetNode:
    """A registered node and its present GPUs in device-index order; topology from its labels."""

    node_id: str
    ready: bool  # False once declared lost: it keeps its GPUs in the fleet's shape, but takes no work
    gpus: tuple[FleetGpu, ...]
    nvlink_domain: str | None = None
    rack: str | None = None
    pool: str = DEFAULT_POOL  # from its `pool` label


@dataclass(frozen=True)
class QueuedJob:
    """A pending job: what it asks for, and its version and reason, so only real changes are written."""

    request: JobRequest
    version: int
    reason: str
    pool: str = DEFAULT_POOL


@dataclass(frozen=True)
class HeldReplica:
    """A live allocation: one replica's GPUs on one node."""

    replica: int
    node_id: str
    gpu_model: str
    gpu_uuids: tuple[str, ...]
    started_at: float  # when its workload started; when it was bound, until then
    stopping: bool = False  # a stop was requested (cancel, failure, preemption, maximum runtime)
    gpu_milli: int = WHOLE_GPU  # its share of each GPU, in thousandths (below 1000: time-sliced)


@dataclass(frozen=True)
class HoldingJob:
    """A job that holds GPUs: its live allocations, whatever its state."""

    request: JobRequest
    replicas: tuple[HeldReplica, ...]

    @property
    def stopping(self) -> bool:
        return any(r.stopping for r in self.replicas)


@dataclass(frozen=True)
class ProjectQuota:
    """The most GPUs of each model a project may have bound at once; a model absent is unlimited."""

    tenant_id: str
    gpus: Mapping[str, int]


# GPUs each project holds now, with its tenant: project -> (tenant, GPUs, a share counting its fraction).
UsedGpus = Mapping[str, tuple[str, float]]


@dataclass(frozen=True)
class UsageHistory:
    """Decayed GPU-seconds per queue (project), the fair-share history, as of `decayed_at`."""

    gpu_seconds: Mapping[str, float] = field(default_factory=dict)
    tenants: Mapping[str, str] = field(default_factory=dict)  # queue -> its tenant
    decayed_at: float | None = None  # None: never decayed yet


@dataclass(frozen=True)
class LiveState:
    now: float
    nodes: tuple[FleetNode, ...]
    # Per project; a project without a quota is unlimited.
    quotas: Mapping[str, ProjectQuota]
    # In the order the cycle read them (each pool's queue order), at most the cycle's limit per pool.
    pending: tuple[QueuedJob, ...]
    holding: tuple[HoldingJob, ...]
    # GPU-seconds each pending or holding job received so far (read only for least-attained-service).
    attained_service: Mapping[str, float] = field(default_factory=dict)
    # Projects and tenants whose budget is exhausted in the current billing period (no new work).
    budget_exhausted: frozenset[str] = frozenset()
    # Pending jobs whose rows could not be read into a request: not decided on, failed with the reason.
    set_aside: tuple[SetAside, ...] = ()


@dataclass(frozen=True)
class SetAside:
    """A pending job the cycle cannot process (reading its row, deciding or applying raises on it): it
    fails with the reason, and the cycle goes on for every other job."""

    job_id: str
    tenant_id: str
    project_id: str
    version: int
    reason: str

    @classmethod
    def of(cls, job: QueuedJob, why: str) -> SetAside:
        request = job.request
        return cls(request.job_id, request.tenant_id, request.project_id, job.version, set_aside_reason(why))


# A job's reason is shown to its tenant: a long error is cut.
MAX_SET_ASIDE_REASON = 500


def set_aside_reason(why: str) -> str:
    return f"set aside: {why}"[:MAX_SET_ASIDE_REASON]


# Actions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoundReplica:
    replica: int
    node_id: str
    gpu_uuids: tuple[str, ...]
    gpu_milli: int = WHOLE_GPU  # its share of each GPU, in thousandths


@dataclass(frozen=True)
class Bind:
    """A whole job placed: allocations bound, workloads started."""

    job: QueuedJob
    gpu_model: str
    replicas: tuple[BoundReplica, ...]

    @property
    def reason(self) -> str:
        nodes = sorted({r.node_id for r in self.replicas})
        where = f"node {nodes[0]}" if len(nodes) == 1 else f"nodes {', '.join(nodes)}"
        return f"placed on {where} ({self.gpu_model})"


@dataclass(frozen=True)
class Verdict:
    """A pending job's new state and reason: still pending (why it waits), or failed (why it never runs)."""

    job: QueuedJob
    state: JobState
    reason: str


@dataclass(frozen=True)
class Actions:
    binds: tuple[Bind, ...] = ()
    # Only those that change the job's state or reason.
    verdicts: tuple[Verdict, ...] = ()
    preemptions: tuple[Preempt, ...] = ()
    stops: tuple[Stop, ...] = ()
    set_aside: tuple[SetAside, ...] = ()
