"""The generic job trace: job_id,submit_time,gpus,duration plus optional columns.

Optional: gpu_milli (a share of one GPU in thousandths, 1..1000, only with gpus = 1; default 1000), tenant
and project (default "default"), priority (integer, default 0), gpu_model (acceptable models or flavors
joined by '|', empty = any), max_runtime (seconds, empty = none), replicas (default 1). `gpus` is GPUs
per replica (0 for a CPU-only job). Unknown columns are errors, so a misspelt column is caught.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest
from sim.traces.jobs import TraceJob
from sim.traces.rows import read_rows, unique

REQUIRED = ("job_id", "submit_time", "gpus", "duration")
OPTIONAL = ("gpu_milli", "tenant", "project", "priority", "gpu_model", "max_runtime", "replicas")
DEFAULT_TENANT = "default"


def parse_generic_jobs(lines: Iterable[str]) -> tuple[TraceJob, ...]:
    jobs: list[TraceJob] = []
    seen: set[str] = set()
    for row in read_rows(lines, REQUIRED, OPTIONAL):
        job_id = unique(row, "job_id", seen)
        gpus = row.integer("gpus")
        milli = row.integer("gpu_milli", default=WHOLE_GPU, minimum=1, maximum=WHOLE_GPU)
        if milli < WHOLE_GPU and gpus != 1:
            raise row.error("gpu_milli", f"a share of {milli} thousandths needs gpus = 1, not {gpus}")
        max_runtime = row.optional_seconds("max_runtime")
        if max_runtime == 0:
            raise row.error("max_runtime", "must be > 0 (leave it empty for no limit)")
        tenant = row.text("tenant", DEFAULT_TENANT)
        request = JobRequest(
            job_id=job_id,
            tenant_id=tenant,
            project_id=row.text("project", DEFAULT_TENANT),
            submitted_at=row.seconds("submit_time"),
            replicas=row.integer("replicas", default=1, minimum=1),
            gpus_per_replica=gpus,
            gpu_milli=milli,
            gpu_models=row.models("gpu_model"),
            priority=row.integer("priority", default=0, minimum=None),
            max_runtime_s=max_runtime,
        )
        jobs.append(TraceJob(request, row.seconds("duration"), row.line))
    return tuple(jobs)
