"""Seeded synthetic traces: a realistic mix of shapes, tenants, priorities and heavy-tailed durations.

The same parameters and seed always give the same trace. Arrivals are Poisson at the rate that offers
`load` times the fleet's GPU capacity (computed from the very jobs drawn), so a trace can be aimed at
an underloaded, saturated or overloaded cluster.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest
from sim.traces import TraceJob

# (weight, replicas, gpus per replica, fractional share or None): 1/2/4/8-GPU jobs, shares, gangs.
SHAPES: tuple[tuple[float, int, int, tuple[int, ...] | None], ...] = (
    (0.14, 1, 1, (250, 500, 750)),
    (0.38, 1, 1, None),
    (0.14, 1, 2, None),
    (0.12, 1, 4, None),
    (0.12, 1, 8, None),
    (0.06, 2, 8, None),
    (0.04, 4, 8, None),
)
PRIORITIES = ((0.75, 0), (0.20, 1), (0.05, 2))
MIN_DURATION_S, MAX_DURATION_S = 30.0, 5 * 86400.0
CSV_COLUMNS = (
    "job_id",
    "submit_time",
    "gpus",
    "duration",
    "gpu_milli",
    "tenant",
    "project",
    "priority",
    "gpu_model",
    "max_runtime",
    "replicas",
    "checkpointable",
)


@dataclass(frozen=True, slots=True)
class TraceSpec:
    jobs: int
    cluster_gpus: int  # the fleet the trace is aimed at (sets the arrival rate)
    load: float = 0.9  # offered GPU-seconds per second over cluster GPUs
    tenants: int = 4
    projects_per_tenant: int = 2
    median_duration_s: float = 1200.0
    duration_sigma: float = 1.5  # log-normal spread: a few jobs run 100x the median
    gpu_models: tuple[str, ...] = ()  # when set, a fifth of the jobs accept only one of these
    checkpointable_share: float = 0.8
    declared_runtime_share: float = 0.8  # jobs that declare a maximum runtime
    underestimated_share: float = 0.02  # of those, jobs whose maximum is shorter than they need
    max_replicas_gpus: int | None = None  # cap on replicas x GPUs (None: the shapes above)


def generate(spec: TraceSpec, seed: int) -> tuple[TraceJob, ...]:
    if spec.jobs <= 0 or spec.cluster_gpus <= 0 or spec.load <= 0:
        raise ValueError("jobs, cluster_gpus and load must be positive")
    rng = random.Random(seed)
    shapes = [s for s in SHAPES if spec.max_replicas_gpus is None or s[1] * s[2] <= spec.max_replicas_gpus]
    shape_weights = [s[0] for s in shapes]
    tenant_weights = [1.0 / (t + 1) for t in range(spec.tenants)]  # a few big tenants, a long tail
    drawn = []
    for _ in range(spec.jobs):
        _, replicas, gpus, shares = rng.choices(shapes, shape_weights)[0]
        milli = rng.choice(shares) if shares else WHOLE_GPU
        duration = rng.lognormvariate(math.log(spec.median_duration_s), spec.duration_sigma)
        duration = round(min(MAX_DURATION_S, max(MIN_DURATION_S, duration)))
        drawn.append((replicas, gpus, milli, duration))
    mean_work = sum(r * g * m / WHOLE_GPU * d for r, g, m, d in drawn) / len(drawn)
    rate = spec.load * spec.cluster_gpus / mean_work  # arrivals per second
    now = 0.0
    jobs = []
    for index, (replicas, gpus, milli, duration) in enumerate(drawn):
        tenant = rng.choices(range(spec.tenants), tenant_weights)[0]
        project = rng.randrange(spec.projects_per_tenant)
        max_runtime = None
        if rng.random() < spec.declared_runtime_share:
            factor = 0.8 if rng.random() < spec.underestimated_share else rng.uniform(1.1, 3.0)
            max_runtime = float(math.ceil(duration * factor / 60.0) * 60)
        models = (rng.choice(spec.gpu_models),) if spec.gpu_models and rng.random() < 0.2 else ()
        request = JobRequest(
            job_id=f"job-{index:06d}",
            tenant_id=f"tenant-{tenant}",
            project_id=f"tenant-{tenant}-p{project}",
            submitted_at=round(now, 3),
            replicas=replicas,
            gpus_per_replica=gpus,
            gpu_milli=milli,
            gpu_models=models,
            priority=rng.choices([p for _, p in PRIORITIES], [w for w, _ in PRIORITIES])[0],
            max_runtime_s=max_runtime,
            checkpointable=rng.random() < spec.checkpointable_share,
        )
        jobs.append(TraceJob(request, float(duration)))
        now += rng.expovariate(rate)
    return tuple(jobs)


def write_csv(jobs: tuple[TraceJob, ...], path: Path) -> None:
    """The generic trace format that `aifactory sim` reads back."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for job in jobs:
            r = job.request
            writer.writerow(
                (
                    r.job_id,
                    r.submitted_at,
                    r.gpus_per_replica,
                    job.duration_s,
                    r.gpu_milli,
                    r.tenant_id,
                    r.project_id,
                    r.priority,
                    "|".join(r.gpu_models),
                    r.max_runtime_s or "",
                    r.replicas,
                    "true" if r.checkpointable else "false",
                )
            )
