"""The cycle's working state: the cluster as placement sees it, and every job that holds GPUs in it.

What runs (from the snapshot) and what this cycle places are "holdings". Preemption and reservation
planning release holdings from the cluster to ask "what if they were gone?" and commit them back;
only placements the engine decides stay committed when a question is answered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.scheduler.domain.engine.flavors import FleetFlavors
from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, ReplicaPlacement, RunningJob
from services.scheduler.domain.engine.placement_api import ClusterView, PlacementPolicy
from services.scheduler.domain.engine.placement_source import counted_placements

PlacementResult = tuple[str, tuple[ReplicaPlacement, ...]]


@dataclass(slots=True, eq=False)  # compared by identity: each job holds its GPUs once
class Holding:
    request: JobRequest
    flavor: str
    placements: tuple[ReplicaPlacement, ...]
    # When its GPUs are expected back, for reservations: started_at + max_runtime_s, or sooner when
    # it is being stopped or preempted; None when it declares no maximum runtime.
    end_at: float | None
    running: RunningJob | None = None  # None for a job placed in this cycle
    departing: bool = False  # stopping, preempted, or in its grace period: not a victim candidate
    # The part of `placements` the cluster counts: on schedulable nodes and healthy GPUs.
    counted: tuple[ReplicaPlacement, ...] = ()

    @property
    def started_at(self) -> float:
        """When it started; a job placed in this cycle starts now (+inf: newer than anything)."""
        return self.running.started_at if self.running is not None else float("inf")


class Workspace:
    def __init__(
        self,
        fleet: FleetFlavors,
        cluster: ClusterView,
        placement: PlacementPolicy,
        running: Callable[[], Iterable[Holding]],
        running_on: Callable[[str], Iterable[RunningJob]],
    ) -> None:
        """`running`: the holdings of what runs (already in `cluster`), made when first needed;
        `running_on`: the running jobs with a replica on a node."""
        self.cluster = cluster
        self.placement = placement
        self.nodes = fleet.by_id
        # Most cycles: every node schedulable and healthy, so placements need no filtering.
        self._all_usable = fleet.all_usable
        # Only preemption and reservations look at what runs, job by job: most cycles never do.
        self._running = running
        self._running_on = running_on
        self._holdings: dict[str, Holding] | None = None
        self._placed: list[Holding] = []
        self._placed_on: dict[str, list[Holding]] = {}  # node -> jobs placed this cycle with a replica there
        self.placement_calls = 0

    # 1. Holdings -----------------------------------------------------------------------------------

    @property
    def holdings(self) -> dict[str, Holding]:
        """Every job holding GPUs: what runs, and what this cycle placed."""
        if self._holdings is None:
            if self._all_usable:  # counted as they are (the default)
                self._holdings = {h.request.job_id: h for h in self._running()}
            else:
                self._holdings = {}
                for holding in self._running():
                    holding.counted = self._counted(holding.placements)
                    self._holdings[holding.request.job_id] = holding
            for holding in self._placed:
                self._holdings[holding.request.job_id] = holding
        return self._holdings

    def place(self, holding: Holding) -> None:
        """Record and commit a job this cycle places."""
        holding.counted = self._counted(holding.placements)
        self._placed.append(holding)
        if self._holdings is not None:
            self._holdings[holding.request.job_id] = holding
        for node_id in {p.node_id for p in holding.placements}:
            self._placed_on.setdefault(node_id, []).append(holding)
        self.cluster.commit(holding.request, holding.counted)

    def placed_this_cycle(self) -> list[Holding]:
        return self._placed

    def release(self, holding: Holding) -> None:
        self.cluster.release(holding.request, holding.counted)

    def restore(self, holding: Holding) -> None:
        self.cluster.commit(holding.request, holding.counted)

    def _counted(self, placements: tuple[ReplicaPlacement, ...]) -> tuple[ReplicaPlacement, ...]:
        if self._all_usable:
            nodes = self.nodes
            if all(p.node_id in nodes for p in placements):
                return placements
        return counted_placements(self.nodes, placements)

    # 2. Placement ----------------------------------------------------------------------------------

    def find_place(self, request: JobRequest, flavors: tuple[str, ...]) -> PlacementResult | None:
        """Where the whole job would go right now (nothing is committed)."""
        if not flavors or not self.might_fit(request, flavors):
            return None
        self.placement_calls += 1
        return self.placement.place(self.cluster, request, flavors)

    def might_fit(self, request: JobRequest, flavors: tuple[str, ...]) -> bool:
        """A cheap necessary condition: some flavor has enough whole free GPUs for a whole-GPU job."""
        if request.gpu_milli < WHOLE_GPU:
            return True
        needed = request.replicas * request.gpus_per_replica
        free = self.cluster.free_gpus
        return any(free(f) >= needed for f in flavors)

    # 3. Per-GPU occupancy (for reservations) -------------------------------------------------------

    def occupancy(self, node_id: str, exclude: set[str] | frozenset[str] = frozenset()) -> list[int]:
        """Thousandths in use per GPU index of a node by the holdings (but `exclude`d job ids); an
        unhealthy GPU counts full."""
        node = self.nodes[node_id]
        used = [0] * node.gpu_count
        for index in node.unhealthy_gpus:
            if 0 <= index < node.gpu_count:
                used[index] = WHOLE_GPU
        for job in (*self._running_on(node_id), *self._placed_on.get(node_id, ())):
            if job.request.job_id in exclude:
                continue
            for p in job.placements:
                if p.node_id == node_id:
                    for index in p.gpu_indices:
                        used[index] += p.gpu_milli
        return used
