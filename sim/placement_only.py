"""`aifactory sim --placement-only`: the FGD paper's placement experiment (Weng et al., USENIX ATC 2023)
on a trace, delegated to placement_experiment.py: tasks shuffled by the seed, inflated to 130% of GPU
capacity, no departures, GPU allocation ratio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES
from sim.loading import load_jobs, load_nodes
from sim.placement_experiment import PUBLISHED_COUNTERPART, PUBLISHED_RATIOS, run_placement_experiment
from sim.trace import TraceError

DEFAULT_PLACEMENT = "fgd"


def run_placement_only(
    trace: Path,
    trace_format: str = "alibaba",
    *,
    placement: str | None = None,
    seed: int = 42,
    node_list: Path | None = None,
    nodes: int | None = None,
    gpus_per_node: int = 8,
    gpu_model: str = "A100",
) -> dict[str, Any]:
    """The experiment's summary; nodes from --node-list, --nodes, or (Alibaba) the trace's node list."""
    name = placement or DEFAULT_PLACEMENT
    if name not in PLACEMENT_POLICIES:
        known = ", ".join(PLACEMENT_POLICIES)
        raise TraceError(f"unknown placement {name!r}; choose one of {known}")
    jobs, _ = load_jobs(trace, trace_format)
    fleet = load_nodes(trace, trace_format, nodes, gpus_per_node, gpu_model, node_list)
    result = run_placement_experiment(fleet, [job.request for job in jobs], PLACEMENT_POLICIES[name], seed)
    counterpart = PUBLISHED_COUNTERPART.get(name)
    return {
        "mode": "placement-only",
        "placement": name,
        "seed": seed,
        "jobs": result.arrived,
        "placed": result.placed,
        "failed": result.failed,
        "gpus": result.capacity_milli // 1000,
        "nodes": len(fleet),
        "arrived_demand_ratio": result.arrived_milli / result.capacity_milli,
        "allocation_ratio": result.allocation_ratio,
        "published_counterpart": counterpart,
        "published_allocation_ratio": PUBLISHED_RATIOS[counterpart] / 100 if counterpart else None,
    }
