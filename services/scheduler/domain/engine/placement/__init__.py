"""Placement policies over a per-cycle ClusterState (see placement_api for the seam with the engine).

Topology awareness is built into every policy (search.IndexedPolicy): a gang prefers one node, then one
NVLink domain, then one rack, before spreading.
"""

from __future__ import annotations

from services.scheduler.domain.engine.placement.cluster import CPU_ONLY_FLAVOR, ClusterState
from services.scheduler.domain.engine.placement.policies import BestFit, Fgd, FgdExact, FirstFit
from services.scheduler.domain.engine.placement.workload import ReplicaShape, WorkloadDistribution
from services.scheduler.domain.engine.placement_api import PlacementPolicy

PLACEMENT_POLICIES: dict[str, PlacementPolicy] = {
    policy.name: policy for policy in (FirstFit(), BestFit(), Fgd(), FgdExact())
}

__all__ = [
    "CPU_ONLY_FLAVOR",
    "PLACEMENT_POLICIES",
    "ClusterState",
    "ReplicaShape",
    "WorkloadDistribution",
]
