"""The simulated fleet: free thousandths of every GPU, node health, and who runs where.

It checks every placement it is told to bind (GPUs exist, are healthy, are free), so an engine bug
that would double-book a GPU stops the simulation instead of producing a flattering result.
"""

from __future__ import annotations

from dataclasses import replace

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, Node, ReplicaPlacement


class PlacementRejected(RuntimeError):
    """A decision asked for GPUs the simulated cluster cannot give: a bug in the policy engine."""


class _NodeState:
    __slots__ = ("cpu_free", "drained", "free", "jobs", "lost", "memory_free", "node", "unhealthy")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.free = [WHOLE_GPU] * node.gpu_count  # free thousandths per GPU index
        self.cpu_free = node.cpu_milli
        self.memory_free = node.memory_mib
        self.lost = False
        self.drained = not node.schedulable
        self.unhealthy: set[int] = set(node.unhealthy_gpus)
        self.jobs: set[str] = set()


class SimCluster:
    def __init__(self, nodes: tuple[Node, ...]) -> None:
        if len({n.node_id for n in nodes}) != len(nodes):
            raise ValueError("node ids must be unique")
        self._nodes = {n.node_id: _NodeState(n) for n in nodes}
        self.capacity_milli = sum(n.gpu_count for n in nodes) * WHOLE_GPU
        self.allocated_milli = 0
        self.busy_gpus = 0  # GPUs with any share allocated
        self._snapshot_nodes: tuple[Node, ...] | None = None

    # 1. What the engine sees -----------------------------------------------------------------------

    def snapshot_nodes(self) -> tuple[Node, ...]:
        """The nodes as the engine sees them; the same tuple object until health changes."""
        if self._snapshot_nodes is None:
            self._snapshot_nodes = tuple(
                replace(
                    s.node,
                    schedulable=not (s.lost or s.drained),
                    unhealthy_gpus=frozenset(s.unhealthy),
                )
                for s in self._nodes.values()
            )
        return self._snapshot_nodes

    @property
    def gpu_count(self) -> int:
        return self.capacity_milli // WHOLE_GPU

    # 2. Binding and releasing ----------------------------------------------------------------------

    def bind(self, job_id: str, request: JobRequest, placements: tuple[ReplicaPlacement, ...]) -> None:
        if len(placements) != request.replicas or len({p.replica for p in placements}) != request.replicas:
            raise PlacementRejected(f"{job_id}: {len(placements)} placements for {request.replicas} replicas")
        for p in placements:
            self._check(job_id, request, p)
        # Checked in full first, so a rejected gang binds nothing.
        for p in placements:
            self._take(job_id, request, p, sign=1)

    def release(self, job_id: str, request: JobRequest, placements: tuple[ReplicaPlacement, ...]) -> None:
        for p in placements:
            self._take(job_id, request, p, sign=-1)

    def _check(self, job_id: str, request: JobRequest, p: ReplicaPlacement) -> None:
        state = self._nodes.get(p.node_id)
        if state is None:
            raise PlacementRejected(f"{job_id}: unknown node {p.node_id}")
        if state.lost or state.drained:
            raise PlacementRejected(f"{job_id}: node {p.node_id} takes no new work")
        if len(p.gpu_indices) != request.gpus_per_replica or len(set(p.gpu_indices)) != len(p.gpu_indices):
            raise PlacementRejected(
                f"{job_id}: replica {p.replica} needs {request.gpus_per_replica} distinct GPUs"
            )
        for index in p.gpu_indices:
            if not 0 <= index < len(state.free) or index in state.unhealthy:
                raise PlacementRejected(f"{job_id}: GPU {index} of {p.node_id} is missing or unhealthy")
            if state.free[index] < p.gpu_milli:
                raise PlacementRejected(
                    f"{job_id}: GPU {index} of {p.node_id} has {state.free[index]} free, needs {p.gpu_milli}"
                )
        if (state.node.cpu_milli and state.cpu_free < request.cpu_milli_per_replica) or (
            state.node.memory_mib and state.memory_free < request.memory_mib_per_replica
        ):
            raise PlacementRejected(f"{job_id}: not enough CPU or memory on {p.node_id}")

    def _take(self, job_id: str, request: JobRequest, p: ReplicaPlacement, sign: int) -> None:
        state = self._nodes[p.node_id]
        free = state.free
        for index in p.gpu_indices:
            before = free[index]
            free[index] = before - sign * p.gpu_milli
            if sign > 0 and before == WHOLE_GPU:
                self.busy_gpus += 1
            elif sign < 0 and free[index] == WHOLE_GPU:
                self.busy_gpus -= 1
        self.allocated_milli += sign * p.gpu_milli * len(p.gpu_indices)
        state.cpu_free -= sign * request.cpu_milli_per_replica
        state.memory_free -= sign * request.memory_mib_per_replica
        if sign > 0:
            state.jobs.add(job_id)
        else:
            state.jobs.discard(job_id)

    # 3. Health -------------------------------------------------------------------------------------

    def set_health(self, node_id: str, kind: str, gpu_index: int | None = None) -> set[str]:
        """Apply a health event; returns the jobs that lost their GPUs (to be requeued)."""
        state = self._nodes.get(node_id)
        if state is None:
            raise ValueError(f"node event for unknown node {node_id}")
        self._snapshot_nodes = None
        if kind == "lost":
            state.lost = True
            return set(state.jobs)
        if kind == "drain":
            state.drained = True
        elif kind == "up":
            state.lost = state.drained = False
            state.unhealthy.clear()
        elif kind == "gpu_fail" and gpu_index is not None:
            state.unhealthy.add(gpu_index)
            if state.free[gpu_index] < WHOLE_GPU:
                return set(state.jobs)  # which of them holds the GPU is the caller's to check
        return set()
