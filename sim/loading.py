"""Assembling a simulation's input from command-line choices: trace, cluster, node health events."""

from __future__ import annotations

from pathlib import Path

from services.scheduler.domain.engine.model import Node
from sim.csv_input import (
    alibaba_node_list_beside,
    read_alibaba_pods,
    read_generic_trace,
    read_node_events,
    read_node_list,
)
from sim.trace import TraceError, TraceJob, Workload, default_queues, uniform_nodes

FORMATS = ("csv", "alibaba")


def load_jobs(trace: Path, trace_format: str) -> tuple[tuple[TraceJob, ...], dict[str, float]]:
    """Jobs in submit order, and the checkpoint intervals that jobs declare."""
    if trace_format not in FORMATS:
        raise TraceError(f"--format must be one of {', '.join(FORMATS)} (got {trace_format!r})")
    if not trace.exists():
        raise TraceError(f"{trace}: no such file")
    return (read_alibaba_pods(trace), {}) if trace_format == "alibaba" else read_generic_trace(trace)


def load_nodes(
    trace: Path,
    trace_format: str,
    nodes: int | None,
    gpus_per_node: int,
    gpu_model: str,
    node_list: Path | None,
) -> tuple[Node, ...]:
    """--node-list, else --nodes x --gpus-per-node, else (Alibaba) the node list beside the pod list."""
    if node_list is not None:
        return read_node_list(node_list, default_model=gpu_model)
    if nodes is not None:
        return uniform_nodes(nodes, gpus_per_node, gpu_model)
    if trace_format == "alibaba":
        return read_node_list(alibaba_node_list_beside(trace))
    raise TraceError("give the cluster: --nodes N --gpus-per-node G, or --node-list FILE")


def load_workload(
    trace: Path,
    trace_format: str = "csv",
    nodes: int | None = None,
    gpus_per_node: int = 8,
    gpu_model: str = "A100",
    node_list: Path | None = None,
    node_events: Path | None = None,
) -> Workload:
    jobs, checkpoint_s = load_jobs(trace, trace_format)
    fleet = load_nodes(trace, trace_format, nodes, gpus_per_node, gpu_model, node_list)
    events = read_node_events(node_events) if node_events is not None else ()
    known = {node.node_id for node in fleet}
    for event in events:
        if event.node_id not in known:
            raise TraceError(f"{node_events}: node event for unknown node {event.node_id!r}")
    return Workload(jobs, fleet, default_queues(jobs), events, checkpoint_s)
