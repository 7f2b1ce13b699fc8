"""GPU flavors of the fleet: which flavors a job accepts, and whether the fleet could ever hold it.

A flavor is a GPU model, or "<model>:<mig profile>" for a GPU partitioned with MIG. A job's
`gpu_models` lists acceptable models or flavors in order of preference; empty accepts every whole-GPU
flavor (a MIG slice is asked for by name).
"""

from __future__ import annotations

from collections import Counter

from services.scheduler.domain.engine.fairness import CPU_RESOURCE, MEMORY_RESOURCE, gpu_resource
from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, Node


def node_flavor_counts(node: Node) -> dict[str, int]:
    """GPUs per flavor on one node (healthy or not: health changes, the hardware does not)."""
    mig = dict(node.mig_profiles)
    counts: dict[str, int] = {}
    for index in range(node.gpu_count):
        profile = mig.get(index)
        flavor = node.gpu_model if profile is None else f"{node.gpu_model}:{profile}"
        counts[flavor] = counts.get(flavor, 0) + 1
    return counts


class FleetFlavors:
    """The flavors present in the fleet and the node shapes per flavor, built once per cycle."""

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self.nodes = nodes
        self.by_id = {n.node_id: n for n in nodes}
        self.all_usable = all(n.schedulable and not n.unhealthy_gpus for n in nodes)
        # flavor -> Counter of node shapes (GPUs of the flavor, CPU milli, memory MiB)
        self._shapes: dict[str, Counter[tuple[int, int, int]]] = {}
        self.total_gpus: dict[str, int] = {}
        for node in nodes:
            for flavor, count in node_flavor_counts(node).items():
                self._shapes.setdefault(flavor, Counter())[(count, node.cpu_milli, node.memory_mib)] += 1
                self.total_gpus[flavor] = self.total_gpus.get(flavor, 0) + count
        self.flavors = tuple(sorted(self._shapes))
        self._whole = tuple(f for f in self.flavors if ":" not in f)
        self._acceptable: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._capacity: dict[tuple[object, ...], tuple[bool, int]] = {}
        self._totals: dict[str, float] | None = None

    def capacity(self) -> dict[str, float]:
        """Each resource's total over schedulable nodes (DRF's denominators): GPU thousandths per
        flavor, CPU, memory. Computed once per fleet."""
        if self._totals is None:
            totals: dict[str, float] = {}
            for node in self.nodes:
                if not node.schedulable:
                    continue
                for flavor, count in node_flavor_counts(node).items():
                    key = gpu_resource(flavor)
                    totals[key] = totals.get(key, 0.0) + count * WHOLE_GPU
                totals[CPU_RESOURCE] = totals.get(CPU_RESOURCE, 0.0) + node.cpu_milli
                totals[MEMORY_RESOURCE] = totals.get(MEMORY_RESOURCE, 0.0) + node.memory_mib
            self._totals = totals
        return dict(self._totals)

    def acceptable(self, request: JobRequest) -> tuple[str, ...]:
        """The fleet's flavors the job accepts, in the job's order of preference."""
        wanted = request.gpu_models
        found = self._acceptable.get(wanted)
        if found is None:
            if not wanted:
                found = self._whole
            else:
                present = set(self.flavors)
                found = tuple(dict.fromkeys(m for m in wanted if m in present))
            self._acceptable[wanted] = found
        return found

    def replica_fits_a_node(self, request: JobRequest, flavors: tuple[str, ...]) -> bool:
        """Whether some node of an acceptable flavor, empty and healthy, could hold one replica."""
        return any(self._fitting(request, f)[0] for f in flavors)

    def fleet_could_hold(self, request: JobRequest, flavors: tuple[str, ...]) -> bool:
        """Whether the whole fleet, empty and healthy, could hold every replica on one flavor."""
        return any(self._fitting(request, f)[1] >= request.replicas for f in flavors)

    def _fitting(self, request: JobRequest, flavor: str) -> tuple[bool, int]:
        """(a node can hold one replica, how many replicas the fleet can hold) for one flavor."""
        key = (
            flavor,
            request.gpus_per_replica,
            request.gpu_milli,
            request.cpu_milli_per_replica,
            request.memory_mib_per_replica,
        )
        known = self._capacity.get(key)
        if known is None:
            known = self._capacity[key] = self._count_fitting(request, flavor)
        return known

    def _count_fitting(self, request: JobRequest, flavor: str) -> tuple[bool, int]:
        total, any_node = 0, False
        for (gpus, cpu, memory), count in self._shapes.get(flavor, Counter()).items():
            if request.gpus_per_replica == 1 and request.gpu_milli < WHOLE_GPU:
                per_node = gpus * (WHOLE_GPU // request.gpu_milli)
            else:
                per_node = gpus // request.gpus_per_replica
            # 0 CPU or memory on a node means it is not tracked there: no limit.
            if cpu and request.cpu_milli_per_replica:
                per_node = min(per_node, cpu // request.cpu_milli_per_replica)
            if memory and request.memory_mib_per_replica:
                per_node = min(per_node, memory // request.memory_mib_per_replica)
            total += per_node * count
            any_node = any_node or per_node > 0
        return any_node, total
