"""Build the cycle's JobOrder and preemption rank for a pool's queueing policy."""

from __future__ import annotations

from collections.abc import Sequence

from services.scheduler.domain.engine.fairness import CPU_RESOURCE, MEMORY_RESOURCE, gpu_resource
from services.scheduler.domain.engine.flavors import node_flavor_counts
from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, Snapshot
from services.scheduler.domain.engine.policy import PoolPolicy
from services.scheduler.domain.engine.queueing.base import (
    JobOrder,
    RankFn,
    StaticOrder,
    fifo_key,
)
from services.scheduler.domain.engine.queueing.drf import DrfOrder
from services.scheduler.domain.engine.queueing.las import las_key, las_level


def build_order(policy: PoolPolicy, snapshot: Snapshot, eligible: Sequence[JobRequest]) -> JobOrder:
    """The order of this cycle's eligible pending jobs under the pool's queueing policy."""
    name = policy.queueing
    if name == "fifo":
        return StaticOrder(list(eligible), fifo_key)
    if name == "priority":
        return StaticOrder.by_priority(list(eligible))
    if name == "las":
        return StaticOrder(
            list(eligible), las_key(dict(snapshot.attained_service), policy.las_thresholds_gpu_s)
        )
    if name == "drf":
        return DrfOrder(
            eligible,
            ((r.request, r.flavor) for r in snapshot.running),
            capacity=fleet_capacity(snapshot),
            queue_weights={q.queue_id: q.weight for q in snapshot.queues},
            queue_tenants={q.queue_id: q.tenant_id for q in snapshot.queues},
            tenant_weights=dict(policy.tenant_weights),
            usage_history=dict(snapshot.usage_history),
            half_life_s=policy.fair_share_half_life_s,
        )
    raise ValueError(f"unknown queueing policy {name!r}")


def rank_function(policy: PoolPolicy, snapshot: Snapshot) -> RankFn:
    """How jobs rank for preemption: priority class; under LAS, then the fewer GPU-seconds the better."""
    if policy.queueing == "las":
        attained = dict(snapshot.attained_service)
        thresholds = policy.las_thresholds_gpu_s

        def las_rank(job: JobRequest) -> tuple[float, ...]:
            return (job.priority, -las_level(attained.get(job.job_id, 0.0), thresholds))

        return las_rank

    def priority_rank(job: JobRequest) -> tuple[float, ...]:
        return (job.priority,)

    return priority_rank


def fleet_capacity(snapshot: Snapshot) -> dict[str, float]:
    """Each resource's total over schedulable nodes: GPU thousandths per flavor, CPU, memory."""
    capacity: dict[str, float] = {}
    for node in snapshot.nodes:
        if not node.schedulable:
            continue
        for flavor, count in node_flavor_counts(node).items():
            key = gpu_resource(flavor)
            capacity[key] = capacity.get(key, 0.0) + count * WHOLE_GPU
        capacity[CPU_RESOURCE] = capacity.get(CPU_RESOURCE, 0.0) + node.cpu_milli
        capacity[MEMORY_RESOURCE] = capacity.get(MEMORY_RESOURCE, 0.0) + node.memory_mib
    return capacity
