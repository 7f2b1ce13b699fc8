"""The policy engine's Snapshot of the live state, and the way back to real nodes and GPUs.

The engine knows a node as GPUs 0..n-1 of one model. A registered node lists its present GPUs in
device order, each with its UUID: engine GPU i is the node's i-th present GPU of the model. A node with
GPUs of several models becomes one engine node per model, "<node>/<model>", with the node's topology.
Lost nodes stay in the snapshot, unschedulable: the engine fails a job that no node of the fleet could
ever hold, and a lost node may come back.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.scheduler.domain.engine import decay_usage
from services.scheduler.domain.engine.model import (
    FlavorQuota,
    Node,
    QueueSpec,
    ReplicaPlacement,
    RunningJob,
    Snapshot,
)
from services.scheduler.domain.model import (
    FleetNode,
    HeldReplica,
    HoldingJob,
    LiveState,
    ProjectQuota,
    UsageHistory,
    UsedGpus,
)


class FleetIndex:
    """The engine's nodes for the fleet, and engine node ids and GPU indices <-> real ones."""

    def __init__(self, nodes: tuple[FleetNode, ...]) -> None:
        self.source = nodes
        engine_nodes: list[Node] = []
        self._real: dict[str, tuple[str, tuple[str, ...]]] = {}  # engine node -> (node, GPU UUIDs)
        self._spot: dict[str, tuple[str, int]] = {}  # GPU UUID -> (engine node, index)
        for node in nodes:
            models = tuple(dict.fromkeys(gpu.model for gpu in node.gpus))
            for model in models:
                gpus = [gpu for gpu in node.gpus if gpu.model == model]
                engine_id = node.node_id if len(models) == 1 else f"{node.node_id}/{model}"
                engine_nodes.append(
                    Node(
                        engine_id,
                        model,
                        len(gpus),
                        nvlink_domain=node.nvlink_domain,
                        rack=node.rack,
                        schedulable=node.ready,
                        unhealthy_gpus=frozenset(i for i, gpu in enumerate(gpus) if not gpu.healthy),
                    )
                )
                self._real[engine_id] = (node.node_id, tuple(gpu.uuid for gpu in gpus))
                self._spot.update((gpu.uuid, (engine_id, i)) for i, gpu in enumerate(gpus))
        self.nodes = tuple(engine_nodes)

    def node_id(self, engine_node_id: str) -> str:
        return self._real[engine_node_id][0]

    def gpu_uuids(self, engine_node_id: str, indices: Iterable[int]) -> tuple[str, ...]:
        uuids = self._real[engine_node_id][1]
        return tuple(uuids[i] for i in indices)

    def placements(self, replicas: Iterable[HeldReplica]) -> tuple[ReplicaPlacement, ...]:
        """Live allocations as engine placements. A GPU no longer present is left out; a replica
        with none left stays on its node's id, which the engine then treats as lost."""
        placed = []
        for replica in replicas:
            spots = [spot for uuid in replica.gpu_uuids if (spot := self._spot.get(uuid)) is not None]
            engine_id = spots[0][0] if spots else replica.node_id
            indices = tuple(i for _, i in spots)
            placed.append(ReplicaPlacement(replica.replica, engine_id, indices, replica.gpu_milli))
        return tuple(placed)


class SnapshotBuilder:
    """Builds the engine's snapshot cycle after cycle, reusing what did not change: the fleet's index
    while the cycle passes the same nodes, and each running job while its allocations stay the same.
    The engine then finds them identical to the last cycle's and its own caches stay warm."""

    def __init__(self) -> None:
        self._fleet: FleetIndex | None = None
        self._running: dict[str, tuple[HoldingJob, RunningJob]] = {}

    def build(self, state: LiveState, history: UsageHistory) -> tuple[Snapshot, FleetIndex]:
        fleet = self._fleet
        if fleet is None or fleet.source is not state.nodes:
            fleet = self._fleet = FleetIndex(state.nodes)
            self._running = {}
        running: dict[str, tuple[HoldingJob, RunningJob]] = {}
        for job in state.holding:
            known = self._running.get(job.request.job_id)
            running[job.request.job_id] = (
                known if known is not None and known[0] == job else (job, _running_job(job, fleet))
            )
        self._running = running
        snapshot = Snapshot(
            now=state.now,
            nodes=fleet.nodes,
            queues=_queues(state, history),
            pending=tuple(job.request for job in state.pending),
            running=tuple(known[1] for known in running.values()),
            usage_history=tuple(sorted(history.gpu_seconds.items())),
            # Jobs told to stop (cancel, failure, preemption, maximum runtime) are neither stopped nor
            # preempted again: the engine expects their GPUs back within the grace period.
            terminating=frozenset(job.request.job_id for job in state.holding if job.stopping),
            attained_service=tuple(sorted(state.attained_service.items())),
            budget_exhausted=state.budget_exhausted,
        )
        return snapshot, fleet


def _running_job(job: HoldingJob, fleet: FleetIndex) -> RunningJob:
    return RunningJob(
        job.request,
        job.replicas[0].gpu_model,
        fleet.placements(job.replicas),
        started_at=min(r.started_at for r in job.replicas),
    )


def _queues(state: LiveState, history: UsageHistory) -> tuple[QueueSpec, ...]:
    """A queue per project the cycle knows of (a quota, a job, a history); quotas where set."""
    tenants = dict(history.tenants)
    for job in state.holding:
        tenants.setdefault(job.request.project_id, job.request.tenant_id)
    for queued in state.pending:
        tenants.setdefault(queued.request.project_id, queued.request.tenant_id)
    tenants.update((project, quota.tenant_id) for project, quota in state.quotas.items())
    return tuple(
        QueueSpec(project, tenant, quotas=_flavor_quotas(state.quotas.get(project)))
        for project, tenant in sorted(tenants.items())
    )


def _flavor_quotas(quota: ProjectQuota | None) -> tuple[tuple[str, FlavorQuota], ...]:
    if quota is None:
        return ()
    return tuple((model, FlavorQuota(nominal=gpus)) for model, gpus in sorted(quota.gpus.items()))


def advance_history(history: UsageHistory, used: UsedGpus, now: float, half_life_s: float) -> UsageHistory:
    """The history decayed to `now`, with what the projects used since it was last decayed (the GPUs
    they hold now, taken as held throughout: steps are short)."""
    if history.decayed_at is None:
        return UsageHistory(history.gpu_seconds, history.tenants, now)
    elapsed = now - history.decayed_at
    if elapsed <= 0:
        return history  # this leader's clock is behind the last one's: wait for it
    gpu_seconds = {project: gpus * elapsed for project, (_, gpus) in used.items()}
    tenants = {**history.tenants, **{project: tenant for project, (tenant, _) in used.items()}}
    decayed = decay_usage(history.gpu_seconds, gpu_seconds, elapsed, half_life_s)
    return UsageHistory(decayed, {queue: tenants[queue] for queue in decayed}, now)
