"""Small trace builders for the simulator's tests."""

from __future__ import annotations

from services.scheduler.domain.engine.model import JobRequest
from sim.traces import TraceJob


def trace_job(
    job_id: str,
    submit: float,
    gpus: int,
    duration: float,
    *,
    priority: int = 0,
    tenant: str = "acme",
    milli: int = 1000,
    checkpointable: bool = True,
    max_runtime: float | None = None,
    replicas: int = 1,
) -> TraceJob:
    request = JobRequest(
        job_id=job_id,
        tenant_id=tenant,
        project_id=f"{tenant}-p",
        submitted_at=submit,
        replicas=replicas,
        gpus_per_replica=gpus,
        gpu_milli=milli,
        priority=priority,
        checkpointable=checkpointable,
        max_runtime_s=max_runtime,
    )
    return TraceJob(request, duration)
