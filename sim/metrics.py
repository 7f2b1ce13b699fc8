"""What a simulation measured: per-job times, cluster ratios over time, per-tenant shares.

Definitions (all over the horizon from the first submission to the last job end):
- JCT: end - submit of each job that finished (succeeded, or stopped at its maximum runtime);
- queueing delay: first start - submit of each job that started;
- allocation_ratio: allocated GPU thousandths x time / (all GPU thousandths x horizon), 0..1;
- gpu_utilization: GPUs with any share allocated x time / (GPUs x horizon), 0..1 (>= allocation_ratio
  when GPUs are shared);
- goodput_ratio: GPU-seconds of work that counted toward a success / (GPUs x horizon): the allocation
  less restart penalties, work lost to preemptions and work of stopped jobs;
- per tenant: share of all allocated GPU-seconds received, against its entitlement (its queues' nominal
  quota over the fleet where quotas are set, otherwise its fair-share weight among the tenants) and its
  demand share (the GPU-seconds its jobs needed).
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.scheduler.domain.engine.model import JobOutcome, QueueSpec
from sim.cluster import SimCluster
from sim.config import Counters, SimConfig
from sim.jobs import SimJob


@dataclass(slots=True)
class TimeSeries:
    """Samples taken after every scheduling cycle: allocated GPU share and jobs waiting."""

    at: array = field(default_factory=lambda: array("d"))
    allocated: array = field(default_factory=lambda: array("d"))
    pending: array = field(default_factory=lambda: array("l"))

    def add(self, at: float, allocated: float, pending: int) -> None:
        self.at.append(at)
        self.allocated.append(allocated)
        self.pending.append(pending)

    def __len__(self) -> int:
        return len(self.at)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of an ascending sequence."""
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class Measured(Protocol):
    """What a simulation shows of itself once it has run (a Simulation)."""

    @property
    def jobs(self) -> list[SimJob]: ...
    @property
    def now(self) -> float: ...
    @property
    def running_count(self) -> int: ...
    @property
    def cluster(self) -> SimCluster: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def config(self) -> SimConfig: ...
    @property
    def queues(self) -> Sequence[QueueSpec]: ...
    @property
    def series(self) -> TimeSeries: ...
    @property
    def busy_gpu_s(self) -> float: ...
    @property
    def allocated_milli_s(self) -> float: ...


@dataclass(slots=True)
class SimResult:
    summary: dict[str, Any]
    series: TimeSeries
    jobs: list[SimJob]

    @classmethod
    def collect(cls, sim: Measured) -> SimResult:
        jobs = sim.jobs
        start = min((j.request.submitted_at for j in jobs), default=0.0)
        ends = [j.end for j in jobs if j.end is not None]
        horizon = max(max(ends, default=sim.now), sim.now if sim.running_count else 0.0) - start
        ran = [j for j in jobs if j.first_start is not None]
        finished = [j for j in ran if j.end is not None]
        jct = sorted(j.end - j.request.submitted_at for j in finished)  # type: ignore[operator]
        queueing = [j.first_start - j.request.submitted_at for j in ran]  # type: ignore[operator]
        capacity_gpu_s = sim.cluster.gpu_count * horizon
        useful = sum(j.duration_s * j.gpus for j in jobs if j.outcome == JobOutcome.SUCCEEDED)
        c = sim.counters
        summary: dict[str, Any] = {
            "jobs": len(jobs),
            "succeeded": sum(1 for j in jobs if j.outcome == JobOutcome.SUCCEEDED),
            "stopped": c.stops,
            "failed": c.fails,
            "unfinished": sum(1 for j in jobs if j.end is None),
            "avg_jct_s": _mean(jct),
            "p50_jct_s": percentile(jct, 50),
            "p95_jct_s": percentile(jct, 95),
            "p99_jct_s": percentile(jct, 99),
            "avg_queue_s": _mean(queueing),
            "p95_queue_s": percentile(sorted(queueing), 95),
            "makespan_s": horizon,
            "gpu_utilization": _ratio(sim.busy_gpu_s, capacity_gpu_s),
            "allocation_ratio": _ratio(sim.allocated_milli_s / 1000.0, capacity_gpu_s),
            "goodput_ratio": _ratio(useful, capacity_gpu_s),
            "preemptions": c.preemptions,
            "requeues": c.requeues,
            "lost_gpu_s": sum(j.lost_work_s * j.gpus for j in jobs),
            "placements": c.placements,
            "reservations": c.reservations,
            "cycles": c.cycles,
            "gpus": sim.cluster.gpu_count,
            "nodes": len(sim.cluster.snapshot_nodes()),
            "tenants": tenant_shares(
                jobs, sim.queues, sim.cluster.gpu_count, dict(sim.config.tenant_weights)
            ),
        }
        if c.decide_s:
            summary["decide_s"] = c.decide_s
        if c.ignored:
            summary["ignored_decisions"] = len(c.ignored)
        return cls(summary, sim.series, jobs)


def _ratio(part: float, whole: float) -> float:
    return min(1.0, max(0.0, part / whole)) if whole > 0 else 0.0


def tenant_shares(
    jobs: Sequence[SimJob], queues: Sequence[QueueSpec], gpus: int, weights: dict[str, float] | None = None
) -> dict[str, dict[str, Any]]:
    received: dict[str, float] = defaultdict(float)
    demand: dict[str, float] = defaultdict(float)
    jct: dict[str, list[float]] = defaultdict(list)
    waits: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for j in jobs:
        tenant = j.request.tenant_id
        counts[tenant] += 1
        received[tenant] += j.attained_gpu_s
        demand[tenant] += j.duration_s * j.gpus
        if j.first_start is not None:
            waits[tenant].append(j.first_start - j.request.submitted_at)
            if j.end is not None:
                jct[tenant].append(j.end - j.request.submitted_at)
    total_received, total_demand = sum(received.values()), sum(demand.values())
    entitlement = entitlements(queues, sorted(counts), gpus, weights or {})
    return {
        tenant: {
            "jobs": counts[tenant],
            "gpu_s": received[tenant],
            "share": _ratio(received[tenant], total_received),
            "entitlement": entitlement.get(tenant, 0.0),
            "demand_share": _ratio(demand[tenant], total_demand),
            "avg_jct_s": _mean(jct[tenant]),
            "avg_queue_s": _mean(waits[tenant]),
        }
        for tenant in sorted(counts)
    }


def entitlements(
    queues: Sequence[QueueSpec], tenants: Sequence[str], gpus: int, weights: dict[str, float]
) -> dict[str, float]:
    """Nominal quota over the fleet where any queue has one; otherwise the tenant's weight share."""
    nominal: dict[str, int] = defaultdict(int)
    for queue in queues:
        nominal[queue.tenant_id] += sum(quota.nominal for _, quota in queue.quotas)
    if any(nominal.values()) and gpus > 0:
        return {tenant: min(1.0, nominal[tenant] / gpus) for tenant in tenants}
    total = sum(weights.get(tenant, 1.0) for tenant in tenants)
    return {tenant: weights.get(tenant, 1.0) / total for tenant in tenants} if tenants else {}
