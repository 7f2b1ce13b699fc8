"""The placement package as the engine uses it: a policy by name, and the cluster state of a snapshot.

Building the cluster state of a 1,250-node fleet with thousands of running jobs costs more than the
rest of a cycle, and from one cycle to the next only a few jobs start or end. So the engine keeps the
state of its last cycle (in the caller's EngineCache) and brings it up to date by
difference: jobs that ended are released, jobs that started are committed. The result is the state `ClusterState.from_snapshot` would
build (its target workload too), so decide() stays a function of its snapshot.
"""

from __future__ import annotations

from operator import attrgetter

from services.scheduler.domain.engine.model import JobRequest, Node, ReplicaPlacement, RunningJob
from services.scheduler.domain.engine.placement_api import ClusterView, PlacementPolicy
from services.scheduler.domain.engine.running_index import RunningIndex


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


class KeptCluster:
    """A cluster state on `nodes` holding exactly `committed`, the replica shapes of those jobs (the
    target workload from_snapshot would learn from them), and the running jobs of a RunningIndex at a
    generation, besides the jobs placed since (`placed`, by id)."""

    __slots__ = ("cluster", "committed", "generation", "index", "nodes", "placed", "shapes")

    def __init__(
        self,
        nodes: tuple[Node, ...],
        cluster: ClusterView,
        committed: Committed,
        shapes: ShapeCounts,
        index: RunningIndex,
    ) -> None:
        self.nodes = nodes
        self.cluster = cluster
        self.committed = committed
        self.shapes = shapes
        self.index, self.generation = index, index.generation
        self.placed: list[str] = []


_job_id = attrgetter("request.job_id")


def checkout_cluster(
    kept: KeptCluster | None, nodes: tuple[Node, ...], running: tuple[RunningJob, ...], index: RunningIndex
) -> KeptCluster:
    """The cluster state of the nodes with `running` committed (its `cluster`): `kept`, the one handed
    back by the last cycle's `checkin_cluster`, brought up to date, else one built afresh. `index`
    indexes `running`: what changed since the last checkout is what it saw change, if it was brought
    up to date once since (as each cycle does), else the state is built afresh. The caller no longer
    holds `kept` (a failure before check-in must not leave a half-changed state behind)."""
    from services.scheduler.domain.engine.placement.cluster import ClusterState
    from services.scheduler.domain.engine.placement.workload import ReplicaShape, WorkloadDistribution

    unique = len(index.job_counts) == len(running)  # else from_snapshot counts every entry
    if (
        kept is None
        or not unique
        or not (kept.nodes is nodes or kept.nodes == nodes)
        or kept.index is not index
        or kept.generation + 1 != index.generation
        or index.last_diff is None
    ):
        cluster = ClusterState.from_snapshot(nodes, running)
        current: Committed = {job.request.job_id: (job.request, job.placements) for job in running}
        shapes: ShapeCounts = {}
        for request, _ in current.values():
            _count(shapes, ReplicaShape.of(request), request, 1)
        return KeptCluster(nodes, cluster, current, shapes, index)
    kept_cluster = kept.cluster
    assert isinstance(kept_cluster, ClusterState)
    cluster = kept_cluster
    added, removed = index.last_diff
    # Only jobs that started, ended, changed or were placed since can differ from what is committed.
    now_by_id = {job.request.job_id: (job.request, job.placements) for job in added}
    changed = {*now_by_id, *map(_job_id, removed), *kept.placed}
    if changed:
        by_id = {n.node_id: n for n in nodes}
        committed, shapes = kept.committed, kept.shapes
        starting = []
        for job_id in sorted(changed):  # released first: a job that started may use what one left
            before, now = committed.pop(job_id, None), now_by_id.get(job_id)
            if (
                before is not None
                and now is not None
                and _same(before[0], now[0])
                and _same(before[1], now[1])
            ):
                committed[job_id] = before
                continue
            if before is not None:
                cluster.release(before[0], counted_placements(by_id, before[1]))
                _count(shapes, ReplicaShape.of(before[0]), before[0], -1)
            if now is not None:
                starting.append((job_id, now))
        for job_id, (request, placements) in starting:
            cluster.commit(request, counted_placements(by_id, placements))
            _count(shapes, ReplicaShape.of(request), request, 1)
            committed[job_id] = (request, placements)
    # A fresh target workload of what runs, as from_snapshot learns it.
    workload = WorkloadDistribution()
    for (shape, models), replicas in kept.shapes.items():
        workload.add(shape, models, replicas)  # type: ignore[arg-type]
    cluster.workload = workload
    return KeptCluster(nodes, cluster, kept.committed, kept.shapes, index)


def checkin_cluster(
    kept: KeptCluster, placed: list[tuple[JobRequest, tuple[ReplicaPlacement, ...]]]
) -> KeptCluster:
    """The checked-out cluster state, to keep for the next cycle. Its cluster must hold what ran at
    checkout plus `placed` (this cycle's Place decisions, most likely running by the next cycle) and
    nothing else."""
    from services.scheduler.domain.engine.placement.workload import ReplicaShape

    for request, placements in placed:
        kept.committed[request.job_id] = (request, placements)
        kept.placed.append(request.job_id)
        _count(kept.shapes, ReplicaShape.of(request), request, 1)
    return kept


def _same(a: object, b: object) -> bool:
    return a is b or a == b


def _count(shapes: ShapeCounts, shape: object, request: JobRequest, sign: int) -> None:
    key = (shape, request.gpu_models)
    value = shapes.get(key, 0.0) + sign * request.replicas
    if value > 0:
        shapes[key] = value
    else:
        shapes.pop(key, None)
