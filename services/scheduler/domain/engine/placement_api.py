"""The seam between the queueing engine and the placement policies.

The engine asks "where would this job go right now?" of a PlacementPolicy over a mutable, per-cycle
ClusterState (free thousandths of each GPU, free CPU and memory per node). When it accepts an answer it
commits it to the state (so the next job in the same cycle sees the GPUs taken), and it releases the
placements of jobs it preempts. Implementations: services/scheduler/domain/engine/placement/.
"""

from __future__ import annotations

from typing import Protocol

from services.scheduler.domain.engine.model import JobRequest, ReplicaPlacement


class ClusterView(Protocol):
    """What placement policies may read and change (implemented by placement.cluster.ClusterState)."""

    def commit(self, request: JobRequest, placements: tuple[ReplicaPlacement, ...]) -> None: ...

    def release(self, request: JobRequest, placements: tuple[ReplicaPlacement, ...]) -> None: ...

    def free_gpus(self, flavor: str) -> int:
        """Whole free GPUs of a flavor, over schedulable nodes."""
        ...


class PlacementPolicy(Protocol):
    name: str
    description: str

    def place(
        self, cluster: ClusterView, request: JobRequest, flavors: tuple[str, ...]
    ) -> tuple[str, tuple[ReplicaPlacement, ...]] | None:
        """A flavor and a placement for every replica (the whole gang), or None. Does not commit."""
        ...
