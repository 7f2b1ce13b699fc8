"""The chaos run's own books: from the allocation events it read and the workloads' own records, what must
hold, each check returning the problems it found (empty: it holds).

The bill is computed here from the billing rules, not with metering's code: an allocation's GPU time is
ceil(seconds) x GPUs, priced per GPU-hour, summed per (project, GPU model) for the month and rounded once,
half up, to the currency's minor units."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from shared.events.scheduler import AllocationBound, AllocationReleased
from tests.support.workload_records import Run, overlaps

MINOR_UNITS = {"USD": 2, "EUR": 2, "JPY": 0}


def state_problems(states: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Each submitted job in its expected state; no job the run did not submit."""
    problems = [
        f"{job_id}: {states.get(job_id, 'missing')} (expected {state})"
        for job_id, state in expected.items()
        if states.get(job_id) != state
    ]
    return problems + [
        f"{job_id}: a job this run did not submit" for job_id in states.keys() - expected.keys()
    ]


def gpu_double_bookings(bound: list[AllocationBound], released: list[AllocationReleased]) -> list[str]:
    """A GPU bound to two allocations whose [bound_at, released_at) intervals meet."""
    end = {r.allocation_id: r.released_at for r in released}
    by_gpu: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for allocation in bound:
        until = end.get(allocation.allocation_id, datetime.max.replace(tzinfo=allocation.bound_at.tzinfo))
        for gpu in allocation.gpu_uuids:
            by_gpu[gpu].append((allocation.bound_at, until, allocation.allocation_id))
    problems = []
    for gpu, intervals in by_gpu.items():
        intervals.sort()
        for (_, first_end, first), (second_start, _, second) in zip(intervals, intervals[1:], strict=False):
            if second_start < first_end:
                problems.append(f"{gpu}: {second} bound at {second_start} while {first} held it")
    return problems


def unreleased(bound: list[AllocationBound], released: list[AllocationReleased]) -> list[str]:
    ended = Counter(r.allocation_id for r in released)
    problems = [f"{b.allocation_id} ({b.job_id}) never released" for b in bound if not ended[b.allocation_id]]
    problems += [f"{a} released {n} times" for a, n in ended.items() if n > 1]
    return problems


def workload_problems(runs: list[Run], job_ids: set[str]) -> list[str]:
    """From the workloads' own records: each job ran exactly once, and no GPU held two at once."""
    count = Counter(run.job for run in runs)
    problems = [f"{job} ran {count[job]} times" for job in sorted(job_ids) if count[job] != 1]
    problems += [f"{run.job} ran but is not one of this run's jobs" for run in runs if run.job not in job_ids]
    problems += [f"{a.job} and {b.job} both ran on {sorted(a.gpus & b.gpus)}" for a, b in overlaps(runs)]
    problems += [f"{run.job} never wrote its end" for run in runs if run.end == math.inf]
    return problems


def expected_gpu_lines(
    released: list[AllocationReleased], tenant_id: str, price_per_gpu_hour: Decimal, currency: str
) -> dict[str, Decimal]:
    """project -> the month's GPU-hours amount for one tenant (one GPU model in this run)."""
    gpu_seconds: dict[str, int] = defaultdict(int)
    for allocation in released:
        if allocation.tenant_id == tenant_id:
            seconds = math.ceil((allocation.released_at - allocation.bound_at).total_seconds())
            gpu_seconds[allocation.project_id] += seconds * allocation.gpu_count
    quantum = Decimal(1).scaleb(-MINOR_UNITS[currency])
    return {
        project: (Decimal(seconds) * price_per_gpu_hour / 3600).quantize(quantum, ROUND_HALF_UP)
        for project, seconds in gpu_seconds.items()
    }


def invoiced_gpu_lines(invoices: list[dict[str, object]]) -> dict[str, Decimal]:
    """project -> the GPU-hours amount on a tenant's invoices (one per period; this run spans one)."""
    lines: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in invoices:
        for line in invoice["lines"]:  # type: ignore[attr-defined]
            if line["meter"] == "gpu_hours":
                lines[line["project_id"]] += Decimal(str(line["amount"]))
    return dict(lines)
