"""The policy engine's vocabulary: an immutable snapshot in, a list of decisions out.

Pure standard library. Times are seconds (float) on a clock the caller owns: the live scheduler passes
wall-clock epoch seconds, the simulator its simulated clock. GPU shares are in thousandths of a GPU
("milli"): a whole GPU is 1000. A flavor is a GPU model, or "<model>:<mig profile>" where MIG is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

WHOLE_GPU = 1000


class DependencyCondition(StrEnum):
    AFTER_SUCCESS = "after_success"  # start only when the other job succeeded; fail if it did not
    AFTER_ANY = "after_any"  # start when the other job ended, however it ended


class JobOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Dependency:
    job_id: str
    condition: DependencyCondition = DependencyCondition.AFTER_SUCCESS


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    gpu_model: str
    gpu_count: int
    cpu_milli: int = 0  # 0 means CPU is not tracked on this node
    memory_mib: int = 0  # 0 means memory is not tracked on this node
    # Topology from node labels: nodes sharing an NVLink domain, then a rack, are "closer".
    nvlink_domain: str | None = None
    rack: str | None = None
    schedulable: bool = True  # False while drained or lost
    unhealthy_gpus: frozenset[int] = frozenset()
    # MIG profile per GPU index where the GPU is partitioned; the GPU's flavor becomes "<model>:<profile>".
    mig_profiles: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What a job asks for. A job is `replicas` replicas; each replica's GPUs sit on one node."""

    job_id: str
    tenant_id: str
    project_id: str
    submitted_at: float
    replicas: int = 1
    gpus_per_replica: int = 1
    # A fraction of one GPU in thousandths (1..1000); only with gpus_per_replica == 1.
    gpu_milli: int = WHOLE_GPU
    cpu_milli_per_replica: int = 0
    memory_mib_per_replica: int = 0
    gpu_models: tuple[str, ...] = ()  # acceptable models (or flavors); empty means any
    priority: int = 0
    max_runtime_s: float | None = None  # declared maximum; enforced, and used for reservations
    depends_on: tuple[Dependency, ...] = ()
    checkpointable: bool = True
    preemptible: bool = True

    @property
    def gpu_demand_milli(self) -> int:
        """Total GPU demand in thousandths."""
        return (
            self.replicas
            * self.gpus_per_replica
            * (self.gpu_milli if self.gpus_per_replica == 1 else WHOLE_GPU)
        )


@dataclass(frozen=True, slots=True)
class ReplicaPlacement:
    replica: int
    node_id: str
    gpu_indices: tuple[int, ...]
    gpu_milli: int = WHOLE_GPU  # per GPU; < 1000 only for a fractional single-GPU replica


@dataclass(frozen=True, slots=True)
class RunningJob:
    request: JobRequest
    flavor: str
    placements: tuple[ReplicaPlacement, ...]
    started_at: float
    # The last time it saved a checkpoint (None: never); work since then is lost if it is preempted.
    last_checkpoint_at: float | None = None
    # True when the job holds GPUs beyond its queue's nominal quota (it borrowed from the cohort).
    borrowing: bool = False


@dataclass(frozen=True, slots=True)
class FlavorQuota:
    nominal: int  # GPUs (whole) guaranteed to the queue
    borrowing_limit: int | None = None  # at most this many beyond nominal from the cohort; None: unlimited
    lending_limit: int | None = None  # at most this many of the nominal lent to others; None: all unused


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A leaf queue is a project; queues are grouped under their tenant and share within a cohort."""

    queue_id: str  # the project id
    tenant_id: str
    cohort: str | None = None
    weight: float = 1.0
    quotas: tuple[tuple[str, FlavorQuota], ...] = ()  # flavor -> quota; a flavor absent is unlimited
    cpu_milli_quota: int | None = None
    memory_mib_quota: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: float
    nodes: tuple[Node, ...]
    queues: tuple[QueueSpec, ...]
    pending: tuple[JobRequest, ...]
    running: tuple[RunningJob, ...]
    # Decayed historical GPU-seconds per queue (the fair-share history), maintained by the caller.
    usage_history: tuple[tuple[str, float], ...] = ()
    # Finished jobs that pending jobs may depend on.
    outcomes: tuple[tuple[str, JobOutcome], ...] = ()
    # Projects and tenants whose budget is exhausted (hard cap): no new work is admitted for them.
    budget_exhausted: frozenset[str] = frozenset()
    # Jobs already in their preemption grace period (do not pick them again).
    terminating: frozenset[str] = frozenset()
    # Attained GPU-seconds per job (running or preempted before), for least-attained-service policies.
    attained_service: tuple[tuple[str, float], ...] = ()


# Decisions -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Admit and bind the job now: all of its replicas at once."""

    job_id: str
    flavor: str
    placements: tuple[ReplicaPlacement, ...]
    borrowing: bool = False


@dataclass(frozen=True, slots=True)
class Preempt:
    """Stop a running job (after `grace_s`) and return it to its queue."""

    job_id: str
    reason: str
    grace_s: float = 30.0
    # The job that needs the freed GPUs.
    for_job_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reserve:
    """The head job that cannot start yet holds a reservation from `start_at` on those nodes."""

    job_id: str
    start_at: float
    node_ids: tuple[str, ...]


class HoldKind(StrEnum):
    """Why a job waits, as a stable code (the `reason` text is for people and may be reworded)."""

    QUOTA = "quota"
    CAPACITY = "capacity"
    DEPENDENCY = "dependency"
    BUDGET = "budget"
    RESERVATION = "reservation"  # the GPUs it could use are held for a reserved (larger) job


@dataclass(frozen=True, slots=True)
class Hold:
    """The job stays pending; `reason` tells the user why (quota, capacity, dependency, budget)."""

    job_id: str
    reason: str
    kind: HoldKind | None = None  # set by the engine on every Hold it emits


@dataclass(frozen=True, slots=True)
class Fail:
    """The job can never run (a failed dependency, a request no node can hold)."""

    job_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    """A running job passed its maximum runtime (or must stop for its budget policy)."""

    job_id: str
    reason: str


Decision = Place | Preempt | Reserve | Hold | Fail | Stop


@dataclass(frozen=True, slots=True)
class Decisions:
    items: tuple[Decision, ...] = field(default_factory=tuple)

    def of_type(self, kind: type) -> list:
        return [d for d in self.items if isinstance(d, kind)]
