"""The placement package as the engine uses it: a policy by name, and the cluster state of a snapshot.

Building the cluster state of a 1,250-node fleet with thousands of running jobs costs more than the
rest of a cycle, and from one cycle to the next only a few jobs start or end. So the engine keeps the
state of its last cycle (per thread) and brings it up to date by difference: jobs that ended are
released, jobs that started are committed. The result is the state `ClusterState.from_snapshot` would
build (its target workload too), so decide() stays a function of its snapshot.
"""

from __future__ import annotations

import threading

from services.scheduler.domain.engine.model import JobRequest, Node, ReplicaPlacement, RunningJob
from services.scheduler.domain.engine.placement_api import ClusterView, PlacementPolicy


def named_placement(name: str) -> PlacementPolicy:
    from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES

    policy = PLACEMENT_POLICIES.get(name)
    if policy is None:
        raise ValueError(f"unknown placement policy {name!r}; known: {sorted(PLACEMENT_POLICIES)}")
    return policy


def counted_placements(
    nodes: dict[str, Node], placements: tuple[ReplicaPlacement, ...]
) -> tuple[ReplicaPlacement, ...]:
    """The part of placements a cluster state counts: on schedulable nodes and healthy GPUs."""
    if all(
        (n := nodes.get(p.node_id)) is not None and n.schedulable and not n.unhealthy_gpus for p in placements
    ):
        return placements
    kept = []
    for p in placements:
        node = nodes.get(p.node_id)
        if node is None or not node.schedulable:
            continue
        indices = tuple(i for i in p.gpu_indices if i not in node.unhealthy_gpus and 0 <= i < node.gpu_count)
        # Kept even with no GPU left: the cluster still counts its CPU and memory on the node.
        kept.append(ReplicaPlacement(p.replica, p.node_id, indices, p.gpu_milli))
    return tuple(kept)


ShapeCounts = dict[tuple[object, tuple[str, ...]], float]  # (replica shape, models) -> replicas running
Committed = dict[str, tuple[JobRequest, tuple[ReplicaPlacement, ...]]]  # job id -> request, placements


class _Kept:
    """A cluster state on `nodes` holding exactly `committed`, and the replica shapes of those jobs
    (the target workload from_snapshot would learn from them)."""

    __slots__ = ("cluster", "committed", "nodes", "shapes")

    def __init__(
        self, nodes: tuple[Node, ...], cluster: ClusterView, committed: Committed, shapes: ShapeCounts
    ) -> None:
        self.nodes = nodes
        self.cluster = cluster
        self.committed = committed
        self.shapes = shapes


_local = threading.local()


def checkout_cluster(nodes: tuple[Node, ...], running: tuple[RunningJob, ...]) -> ClusterView:
    """The cluster state of the nodes with `running` committed; hand it back with `checkin_cluster`."""
    from services.scheduler.domain.engine.placement.cluster import ClusterState
    from services.scheduler.domain.engine.placement.workload import ReplicaShape, WorkloadDistribution

    kept: _Kept | None = getattr(_local, "kept", None)
    _local.kept = None  # checked out: a failure before check-in must not leave a half-changed state
    current: Committed = {job.request.job_id: (job.request, job.placements) for job in running}
    if kept is None or not (kept.nodes is nodes or kept.nodes == nodes):
        cluster = ClusterState.from_snapshot(nodes, running)
        shapes: ShapeCounts = {}
        for request, _ in current.values():
            _count(shapes, ReplicaShape.of(request), request, 1)
        _local.out = _Kept(nodes, cluster, current, shapes)
        return cluster
    kept_cluster = kept.cluster
    assert isinstance(kept_cluster, ClusterState)
    cluster = kept_cluster
    by_id = {n.node_id: n for n in nodes}
    committed, shapes = kept.committed, kept.shapes
    for job_id, (request, placements) in committed.items():
        now = current.get(job_id)
        if now is None or not (_same(now[0], request) and _same(now[1], placements)):
            cluster.release(request, counted_placements(by_id, placements))
            _count(shapes, ReplicaShape.of(request), request, -1)
    for job_id, (request, placements) in current.items():
        before = committed.get(job_id)
        if before is None or not (_same(before[0], request) and _same(before[1], placements)):
            cluster.commit(request, counted_placements(by_id, placements))
            _count(shapes, ReplicaShape.of(request), request, 1)
    # A fresh target workload of what runs, as from_snapshot learns it.
    workload = WorkloadDistribution()
    for (shape, models), replicas in shapes.items():
        workload.add(shape, models, replicas)  # type: ignore[arg-type]
    cluster.workload = workload
    _local.out = _Kept(nodes, cluster, current, shapes)
    return cluster


def checkin_cluster(
    cluster: ClusterView, placed: list[tuple[JobRequest, tuple[ReplicaPlacement, ...]]]
) -> None:
    """Keep the checked-out cluster for the next cycle. It must hold what ran at checkout plus
    `placed` (this cycle's Place decisions, most likely running by the next cycle) and nothing else."""
    from services.scheduler.domain.engine.placement.workload import ReplicaShape

    kept: _Kept = _local.out
    _local.out = None
    assert kept.cluster is cluster
    for request, placements in placed:
        kept.committed[request.job_id] = (request, placements)
        _count(kept.shapes, ReplicaShape.of(request), request, 1)
    _local.kept = kept


def _same(a: object, b: object) -> bool:
    return a is b or a == b


def _count(shapes: ShapeCounts, shape: object, request: JobRequest, sign: int) -> None:
    key = (shape, request.gpu_models)
    value = shapes.get(key, 0.0) + sign * request.replicas
    if value > 0:
        shapes[key] = value
    else:
        shapes.pop(key, None)
