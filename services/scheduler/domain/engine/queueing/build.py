"""Build the cycle's JobOrder and preemption rank for a pool's queueing policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from services.scheduler.domain.engine.flavors import FleetFlavors
from services.scheduler.domain.engine.model import JobRequest, RunningJob, Snapshot
from services.scheduler.domain.engine.policy import PoolPolicy
from services.scheduler.domain.engine.queueing.base import (
    JobOrder,
    RankFn,
    StaticOrder,
)
from services.scheduler.domain.engine.queueing.drf import DrfOrder, Held
from services.scheduler.domain.engine.queueing.las import las_key, las_level


def build_order(
    policy: PoolPolicy,
    snapshot: Snapshot,
    eligible: Sequence[JobRequest],
    held: Iterable[Held] | None = None,
    capacity: Mapping[str, float] | None = None,
) -> JobOrder:
    """The order of this cycle's eligible pending jobs under the pool's queueing policy. For DRF:
    `held`, what the running jobs hold (as the RunningIndex sums it), and the fleet's `capacity` (as
    FleetFlavors has it), from the snapshot when not given."""
    name = policy.queueing
    if name == "fifo":
        return StaticOrder.by_submission(list(eligible))
    if name == "priority":
        return StaticOrder.by_priority(list(eligible))
    if name == "las":
        return StaticOrder(
            list(eligible), las_key(dict(snapshot.attained_service), policy.las_thresholds_gpu_s)
        )
    if name == "drf":
        return DrfOrder(
            eligible,
            held if held is not None else held_by(snapshot.running),
            capacity=capacity if capacity is not None else FleetFlavors(snapshot.nodes).capacity(),
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

    return priority_rank


def priority_rank(job: JobRequest) -> tuple[float, ...]:
    """The rank of every policy but LAS: a function of the request alone."""
    return (job.priority,)


def held_by(running: Iterable[RunningJob]) -> list[Held]:
    """What each running job holds, one by one."""
    return [
        (
            job.request.tenant_id,
            job.request.project_id,
            job.flavor,
            job.request.gpu_demand_milli,
            job.request.cpu_milli_per_replica * job.request.replicas,
            job.request.memory_mib_per_replica * job.request.replicas,
        )
        for job in running
    ]
