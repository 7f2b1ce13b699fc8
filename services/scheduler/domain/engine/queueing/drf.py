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


class _Party:
    """A tenant or a queue: its usage, the history share and weight that go into its share."""

    __slots__ = ("history", "usage", "weight")

    def __init__(self, weight: float) -> None:
        self.usage = ResourceUsage()
        self.history = 0.0
        self.weight = weight

    def share(self, capacity: Mapping[str, float]) -> float:
        return (self.usage.dominant_share(capacity) + self.history) / self.weight


class DrfOrder:
    def __init__(
        self,
        pending: Iterable[JobRequest],
        held: Iterable[tuple[JobRequest, str]],
        capacity: Mapping[str, float],
        queue_weights: Mapping[str, float],
        queue_tenants: Mapping[str, str],
        tenant_weights: Mapping[str, float],
        usage_history: Mapping[str, float],
        half_life_s: float,
    ) -> None:
        """`held`: what runs now, as (request, flavor); `capacity` per resource (see fairness);
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
        for request, flavor in held:
            self._charge(request, flavor)
        for queue_id, decayed in usage_history.items():
            share = history_share(decayed, total_gpus, half_life_s)
            queue = self._queues.get(queue_id)
            if queue is not None:
                queue.history += share
            tenant = self._tenants.get(self._tenant_of.get(queue_id) or queue_tenants.get(queue_id, ""))
            if tenant is not None:
                tenant.history += share

    def _party(self, job: JobRequest) -> tuple[_Party, _Party]:
        queue = self._queues.get(job.project_id)
        if queue is None:
            queue = self._queues[job.project_id] = _Party(self._queue_weights.get(job.project_id, 1.0))
        tenant = self._tenants.get(job.tenant_id)
        if tenant is None:
            tenant = self._tenants[job.tenant_id] = _Party(self._tenant_weights.get(job.tenant_id, 1.0))
        return queue, tenant

    def _charge(self, request: JobRequest, flavor: str) -> None:
        for party in self._party(request):
            party.usage.add(gpu_resource(flavor), request.gpu_demand_milli)
            party.usage.add(CPU_RESOURCE, request.cpu_milli_per_replica * request.replicas)
            party.usage.add(MEMORY_RESOURCE, request.memory_mib_per_replica * request.replicas)

    def admitted(self, request: JobRequest, flavor: str) -> None:
        self._charge(request, flavor)

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
