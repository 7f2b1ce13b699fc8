"""Hierarchical dominant resource fairness (Ghodsi et al., NSDI 2011) with decayed history.

Each round picks the tenant with the lowest weighted share, then its queue with the lowest weighted
share, and offers that queue's next job (priority order inside the queue). A queue's share is its
dominant share of the fleet now (over GPUs per flavor, CPU and memory) plus its decayed historical GPU
usage as a fraction of the fleet, divided by its weight; a tenant's likewise over its queues. Shares
are updated as the cycle admits jobs, so one cycle interleaves queues the way DRF's progressive filling
does.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping

from services.scheduler.domain.engine.fairness import (
    CPU_RESOURCE,
    MEMORY_RESOURCE,
    ResourceUsage,
    gpu_resource,
    history_share,
)
from services.scheduler.domain.engine.model import JobRequest
from services.scheduler.domain.engine.queueing.base import priority_key

# What running jobs of a queue hold on a flavor: (tenant, queue, flavor, GPU thousandths, CPU milli,
# memory MiB), one job's or a sum of several.
Held = tuple[str, str, str, int, int, int]


class _Party:
    """A tenant or a queue: its usage, the history share and weight that go into its share."""

    __slots__ = ("history", "usage", "weight")

    def __init__(self, weight: float) -> None:
        self.usage = ResourceUsage()
        self.history = 0.0
        self.weight = weight

    def share(self, capacity: Mapping[str, float], less: tuple[tuple[str, float], ...] = ()) -> float:
        """Its weighted share; with `less` (resource, amount) taken off its usage if given."""
        usage = self.usage.without(less) if less else self.usage
        return (usage.dominant_share(capacity) + self.history) / self.weight


class DrfOrder:
    def __init__(
        self,
        pending: Iterable[JobRequest],
        held: Iterable[Held],
        capacity: Mapping[str, float],
        queue_weights: Mapping[str, float],
        queue_tenants: Mapping[str, str],
        tenant_weights: Mapping[str, float],
        usage_history: Mapping[str, float],
        half_life_s: float,
    ) -> None:
        """`held`: what runs now, summed or job by job; `capacity` per resource (see fairness);
        `queue_tenants`: the tenant of each configured queue (for history of queues with no pending job)."""
        self._capacity = capacity
        total_gpus = sum(v for k, v in capacity.items() if k.startswith("gpu:")) / 1000
        self._queues: dict[str, _Party] = {}
        self._tenants: dict[str, _Party] = {}
        self._queue_weights = queue_weights
        self._tenant_weights = tenant_weights
        self._jobs: dict[str, list[JobRequest]] = {}  # queue -> its jobs, best last (popped)
        self._tenant_of: dict[str, str] = {}
        for job in pending:
            self._jobs.setdefault(job.project_id, []).append(job)
            self._tenant_of.setdefault(job.project_id, job.tenant_id)
            self._party(job)
        for jobs in self._jobs.values():
            jobs.sort(key=priority_key, reverse=True)
        for held_tenant, held_queue, flavor, gpu_milli, cpu_milli, memory_mib in held:
            amounts = (
                (gpu_resource(flavor), gpu_milli),
                (CPU_RESOURCE, cpu_milli),
                (MEMORY_RESOURCE, memory_mib),
            )
            for party in self._parties(held_queue, held_tenant):
                for resource, amount in amounts:
                    party.usage.add(resource, amount)
        for queue_id, decayed in usage_history.items():
            share = history_share(decayed, total_gpus, half_life_s)
            queue = self._queues.get(queue_id)
            if queue is not None:
                queue.history += share
            tenant = self._tenants.get(self._tenant_of.get(queue_id) or queue_tenants.get(queue_id, ""))
            if tenant is not None:
                tenant.history += share

    def _party(self, job: JobRequest) -> tuple[_Party, _Party]:
        return self._parties(job.project_id, job.tenant_id)

    def _parties(self, queue_id: str, tenant_id: str) -> tuple[_Party, _Party]:
        queue = self._queues.get(queue_id)
        if queue is None:
            queue = self._queues[queue_id] = _Party(self._queue_weights.get(queue_id, 1.0))
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            tenant = self._tenants[tenant_id] = _Party(self._tenant_weights.get(tenant_id, 1.0))
        return queue, tenant

    def _charge(self, request: JobRequest, flavor: str) -> None:
        for party in self._party(request):
            for resource, amount in _demand(request, flavor):
                party.usage.add(resource, amount)

    def admitted(self, request: JobRequest, flavor: str) -> None:
        self._charge(request, flavor)

    def ahead_of(self, request: JobRequest, victim: JobRequest, victim_flavor: str) -> bool:
        """Within a queue, priority order; across queues (tenants), the lower share with the victim's
        usage gone, as the next cycle would compare them."""
        if victim.project_id == request.project_id:
            return priority_key(request) < priority_key(victim)
        capacity, freed = self._capacity, _demand(victim, victim_flavor)
        (queue, tenant), (victim_queue, victim_tenant) = self._party(request), self._party(victim)
        if victim.tenant_id == request.tenant_id:
            mine, theirs = (queue.share(capacity), request.project_id), (victim_queue, victim.project_id)
        else:
            mine, theirs = (tenant.share(capacity), request.tenant_id), (victim_tenant, victim.tenant_id)
        return mine < (theirs[0].share(capacity, freed), theirs[1])

    def __iter__(self) -> Iterator[JobRequest]:
        capacity = self._capacity
        by_tenant: dict[str, list[tuple[float, str]]] = {}
        for queue_id in self._jobs:
            by_tenant.setdefault(self._tenant_of[queue_id], []).append(
                (self._queues[queue_id].share(capacity), queue_id)
            )
        tenants: list[tuple[float, str]] = []
        for tenant_id, queues in by_tenant.items():
            heapq.heapify(queues)
            tenants.append((self._tenants[tenant_id].share(capacity), tenant_id))
        heapq.heapify(tenants)
        while tenants:
            _, tenant_id = heapq.heappop(tenants)
            queues = by_tenant[tenant_id]
            _, queue_id = heapq.heappop(queues)
            jobs = self._jobs[queue_id]
            yield jobs.pop()
            # Only this queue's and tenant's shares can have changed (if the job was admitted).
            if jobs:
                heapq.heappush(queues, (self._queues[queue_id].share(capacity), queue_id))
            if queues:
                heapq.heappush(tenants, (self._tenants[tenant_id].share(capacity), tenant_id))


def _demand(request: JobRequest, flavor: str) -> tuple[tuple[str, float], ...]:
    """What the job holds on `flavor`, per DRF resource."""
    return (
        (gpu_resource(flavor), request.gpu_demand_milli),
        (CPU_RESOURCE, request.cpu_milli_per_replica * request.replicas),
        (MEMORY_RESOURCE, request.memory_mib_per_replica * request.replicas),
    )
