"""What a simulation replays: jobs with their true durations, and the cluster they run on.

Jobs are the trace readers' TraceJob (sim/traces): the engine never sees `duration_s` (a real
scheduler does not know it); only the simulator does, to know when a job would end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.scheduler.domain.engine.model import Node, QueueSpec
from sim.traces import TraceJob

__all__ = [
    "NODE_EVENT_KINDS",
    "NodeEvent",
    "TraceError",
    "TraceJob",
    "Workload",
    "default_queues",
    "uniform_nodes",
]


class TraceError(ValueError):
    """A trace, node list or option the simulator cannot use; the message names what and where."""


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """A change of node health at a time: lost (its jobs are requeued), drained, up, or one GPU failing."""

    at: float
    node_id: str
    kind: str  # one of NODE_EVENT_KINDS
    gpu_index: int | None = None


NODE_EVENT_KINDS = ("lost", "drain", "up", "gpu_fail")


@dataclass(frozen=True, slots=True)
class Workload:
    """A complete simulation input: jobs in submit order (each with a duration), nodes, queues, node
    health events, and checkpoint intervals of the jobs that declare their own."""

    jobs: tuple[TraceJob, ...]
    nodes: tuple[Node, ...]
    queues: tuple[QueueSpec, ...] = ()
    node_events: tuple[NodeEvent, ...] = ()
    checkpoint_s: Mapping[str, float] = field(default_factory=dict)


def uniform_nodes(count: int, gpus_per_node: int, gpu_model: str = "A100", **labels: int) -> tuple[Node, ...]:
    """`count` identical nodes; `nodes_per_rack` (a label option) groups them into racks."""
    if count <= 0 or gpus_per_node <= 0:
        raise TraceError(f"--nodes and --gpus-per-node must be positive (got {count} and {gpus_per_node})")
    per_rack = labels.get("nodes_per_rack", 0)
    width = len(str(count - 1))
    return tuple(
        Node(
            node_id=f"node-{i:0{width}d}",
            gpu_model=gpu_model,
            gpu_count=gpus_per_node,
            rack=f"rack-{i // per_rack}" if per_rack else None,
        )
        for i in range(count)
    )


def default_queues(jobs: tuple[TraceJob, ...]) -> tuple[QueueSpec, ...]:
    """One queue per project seen in the trace, weight 1, no quota (every flavor unlimited)."""
    seen: dict[str, str] = {}
    for job in jobs:
        seen.setdefault(job.request.project_id, job.request.tenant_id)
    return tuple(QueueSpec(queue_id=project, tenant_id=tenant) for project, tenant in seen.items())
