"""Test data builders for placement tests: nodes, jobs, running jobs and clusters in one line each."""

from __future__ import annotations

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, Node, ReplicaPlacement, RunningJob
from services.scheduler.domain.engine.placement import ClusterState, WorkloadDistribution


def node(
    node_id: str,
    gpus: int = 8,
    model: str = "A100",
    cpu: int = 0,
    mem: int = 0,
    nvlink: str | None = None,
    rack: str | None = None,
    schedulable: bool = True,
    unhealthy: frozenset[int] = frozenset(),
    mig: tuple[tuple[int, str], ...] = (),
) -> Node:
    return Node(
        node_id=node_id,
        gpu_model=model,
        gpu_count=gpus,
        cpu_milli=cpu,
        memory_mib=mem,
        nvlink_domain=nvlink,
        rack=rack,
        schedulable=schedulable,
        unhealthy_gpus=unhealthy,
        mig_profiles=mig,
    )


def job(
    job_id: str,
    gpus: int = 1,
    milli: int = WHOLE_GPU,
    replicas: int = 1,
    cpu: int = 0,
    mem: int = 0,
    models: tuple[str, ...] = (),
) -> JobRequest:
    return JobRequest(
        job_id=job_id,
        tenant_id="tenant",
        project_id="project",
        submitted_at=0.0,
        replicas=replicas,
        gpus_per_replica=gpus,
        gpu_milli=milli,
        cpu_milli_per_replica=cpu,
        memory_mib_per_replica=mem,
        gpu_models=models,
    )


def running(
    request: JobRequest, *placements: tuple[str, tuple[int, ...]], flavor: str = "A100"
) -> RunningJob:
    """A running job; each placement is (node id, GPU indices), one per replica."""
    milli = request.gpu_milli if request.gpus_per_replica == 1 else WHOLE_GPU
    return RunningJob(
        request=request,
        flavor=flavor,
        placements=tuple(
            ReplicaPlacement(r, node_id, gpus, milli) for r, (node_id, gpus) in enumerate(placements)
        ),
        started_at=0.0,
    )


def cluster(
    *nodes: Node, busy: tuple[RunningJob, ...] = (), workload: WorkloadDistribution | None = None
) -> ClusterState:
    return ClusterState.from_snapshot(nodes, busy, workload)


def shares(milli: int, count: int = 10) -> WorkloadDistribution:
    """A frozen target workload of `count` fractional jobs of `milli` thousandths each."""
    return WorkloadDistribution.of([job(f"w{i}", milli=milli) for i in range(count)], frozen=True)
