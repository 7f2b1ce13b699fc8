"""Test data builders for the scheduler's pure domain: the live state a cycle loads, and its decisions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from services.scheduler.domain.actions import to_actions
from services.scheduler.domain.engine import PoolPolicy, decide
from services.scheduler.domain.engine.model import JobRequest
from services.scheduler.domain.model import (
    Actions,
    FleetGpu,
    FleetNode,
    HeldReplica,
    HoldingJob,
    LiveState,
    ProjectQuota,
    QueuedJob,
    UsageHistory,
)
from services.scheduler.domain.snapshot import SnapshotBuilder

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0.timestamp() + 3600  # epoch seconds, the engine's clock


def request(
    job_id: str,
    *,
    replicas: int = 1,
    gpus: int = 1,
    models: tuple[str, ...] = (),
    project: str = "prj_a",
    tenant: str = "ten_a",
    submitted_s: float = 0,
    priority: int = 0,
    max_runtime_s: float | None = None,
    gpu_milli: int = 1000,
) -> JobRequest:
    return JobRequest(
        job_id,
        tenant,
        project,
        T0.timestamp() + submitted_s,
        replicas=replicas,
        gpus_per_replica=gpus,
        gpu_milli=gpu_milli,
        gpu_models=models,
        priority=priority,
        max_runtime_s=max_runtime_s,
    )


def queued(job_id: str, *, reason: str = "queued", version: int = 1, **spec: object) -> QueuedJob:
    return QueuedJob(request(job_id, **spec), version, reason)  # type: ignore[arg-type]


def node(
    node_id: str,
    model: str = "A100",
    gpus: int = 8,
    *,
    ready: bool = True,
    unhealthy: Iterable[int] = (),
    nvlink_domain: str | None = None,
    rack: str | None = None,
) -> FleetNode:
    """GPU i of the node has UUID "<node>-g<i>"."""
    sick = set(unhealthy)
    return FleetNode(
        node_id,
        ready,
        tuple(FleetGpu(f"{node_id}-g{i}", model, healthy=i not in sick) for i in range(gpus)),
        nvlink_domain=nvlink_domain,
        rack=rack,
    )


def holding(
    job_id: str,
    node_id: str,
    gpu_indices: tuple[int, ...],
    *,
    model: str = "A100",
    started_s: float = 0,
    stopping: bool = False,
    gpu_milli: int = 1000,
    **spec: object,
) -> HoldingJob:
    """A one-replica job holding GPUs `gpu_indices` of a node built by `node`, started `started_s`
    seconds after T0."""
    uuids = tuple(f"{node_id}-g{i}" for i in gpu_indices)
    replica = HeldReplica(0, node_id, model, uuids, T0.timestamp() + started_s, stopping, gpu_milli)
    job = request(job_id, gpus=len(uuids), gpu_milli=gpu_milli, **spec)  # type: ignore[arg-type]
    return HoldingJob(job, (replica,))


def live(
    pending: Iterable[QueuedJob] = (),
    nodes: Iterable[FleetNode] = (),
    held: Iterable[HoldingJob] = (),
    quotas: dict[str, ProjectQuota] | None = None,
    now: float = NOW,
) -> LiveState:
    return LiveState(now, tuple(nodes), quotas or {}, tuple(pending), tuple(held))


def decisions(state: LiveState, policy: PoolPolicy | None = None) -> Actions:
    """What one cycle does with this state: the engine's decisions as actions."""
    snapshot, fleet = SnapshotBuilder().build(state, UsageHistory())
    return to_actions(decide(snapshot, policy or PoolPolicy()), state, fleet)
