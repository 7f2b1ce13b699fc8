"""Test data builders for the scheduler's pure domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.scheduler.domain.model import Gpu, Node, PendingJob, QuotaKey, Snapshot
from shared.events.jobs import JobSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(
    job_id: str,
    *,
    replicas: int = 1,
    gpus: int = 1,
    models: tuple[str, ...] = (),
    project: str = "prj_a",
    submitted_s: float = 0,
    reason: str = "queued",
) -> PendingJob:
    spec = JobSpec(
        name=job_id, replicas=replicas, gpus_per_replica=gpus, gpu_models=list(models), command=["train.py"]
    )
    return PendingJob(
        job_id=job_id,
        tenant_id="ten_a",
        project_id=project,
        spec=spec,
        submitted_at=T0 + timedelta(seconds=submitted_s),
        version=1,
        reason=reason,
    )


def node(node_id: str, model: str = "A100", free: int = 8, bound: int = 0, unhealthy: int = 0) -> Node:
    gpus = [Gpu(f"{node_id}-g{i}", model, free=True) for i in range(free)]
    gpus += [Gpu(f"{node_id}-b{i}", model, free=False) for i in range(bound)]
    gpus += [Gpu(f"{node_id}-u{i}", model, free=True, healthy=False) for i in range(unhealthy)]
    return Node(node_id, tuple(gpus))


def snapshot(
    jobs: list[PendingJob],
    nodes: list[Node],
    quotas: dict[QuotaKey, int] | None = None,
    usage: dict[QuotaKey, int] | None = None,
) -> Snapshot:
    return Snapshot(pending=tuple(jobs), nodes=tuple(nodes), quotas=quotas or {}, usage=usage or {})
