"""ClusterState: the free capacity of the fleet during one cycle, indexed so a placement scans groups, not nodes.

Per node: the free thousandths of each usable GPU (unhealthy GPUs and unschedulable nodes take nothing),
free CPU and memory where the node tracks them. Nodes are indexed per flavor by their *state*: the
sorted free thousandths of their GPUs of that flavor (the "signature"), then their free CPU and memory.
Nodes in one group are interchangeable for a single-node decision, so a policy scores each group once
and takes its lowest-ordered node; an empty 1,250-node fleet is one group, not 1,250 nodes. A second
index over all nodes (signature = the GPU state of every flavor on the node) serves CPU-only requests.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, Node, ReplicaPlacement, RunningJob
from services.scheduler.domain.engine.placement.workload import WorkloadDistribution

# A CPU-only request (no GPUs) is placed on this pseudo-flavor: its Place decision carries "".
CPU_ONLY_FLAVOR = ""
# Free CPU or memory of a node that does not track it: never the limit.
UNTRACKED = 1 << 60
TOPOLOGY_LEVELS = ("nvlink", "rack")
CPU_INDEX = "<all nodes>"  # the key of the all-nodes index in NodeState.keys

Sig = tuple  # sorted (descending) free thousandths per GPU; for the CPU index: ((flavor, sig), ...)
Res = tuple[int, int]  # (free CPU milli, free memory MiB)


class FlavorIndex:
    """The schedulable nodes holding one flavor, grouped by signature, then by free CPU and memory."""

    __slots__ = ("counts_whole", "flavor", "free_whole", "groups", "max_gpus")

    def __init__(self, flavor: str, counts_whole: bool = True) -> None:
        self.flavor = flavor
        self.counts_whole = counts_whole  # False for the all-nodes index, whose signatures nest per flavor
        self.groups: dict[Sig, dict[Res, list[int]]] = {}  # node orders ascending in every group
        self.free_whole = 0  # fully free GPUs of the flavor
        self.max_gpus = 0  # the most usable GPUs of the flavor on one node

    def add(self, sig: Sig, res: Res, order: int) -> None:
        by_res = self.groups.get(sig)
        if by_res is None:
            by_res = self.groups[sig] = {}
        orders = by_res.get(res)
        if orders is None:
            by_res[res] = [order]
        else:
            bisect.insort(orders, order)
        if self.counts_whole:
            self.free_whole += sig.count(WHOLE_GPU)

    def remove(self, sig: Sig, res: Res, order: int) -> None:
        by_res = self.groups[sig]
        orders = by_res[res]
        del orders[bisect.bisect_left(orders, order)]
        if not orders:
            del by_res[res]
            if not by_res:
                del self.groups[sig]
        if self.counts_whole:
            self.free_whole -= sig.count(WHOLE_GPU)


class NodeState:
    """One schedulable node's free capacity and where it sits in the indices."""

    __slots__ = (
        "cpu_free",
        "cpu_tracked",
        "domains",
        "flavor_gpus",
        "free",
        "keys",
        "mem_free",
        "node",
        "order",
        "usable",
    )

    def __init__(self, node: Node, order: int) -> None:
        self.node = node
        self.order = order
        self.free = [0] * node.gpu_count  # unusable GPUs stay at 0 and belong to no flavor
        self.flavor_gpus = usable_gpus_by_flavor(node)
        self.usable = frozenset(i for indices in self.flavor_gpus.values() for i in indices)
        for index in self.usable:
            self.free[index] = WHOLE_GPU
        self.cpu_tracked = node.cpu_milli > 0
        self.cpu_free = node.cpu_milli if node.cpu_milli > 0 else UNTRACKED
        self.mem_free = node.memory_mib if node.memory_mib > 0 else UNTRACKED
        self.domains = (("nvlink", node.nvlink_domain), ("rack", node.rack))
        self.keys: dict[str, tuple[Sig, Res]] = {}  # index name -> the group the node is in

    def sigs(self) -> tuple[tuple[str, Sig], ...]:
        """The signature of each flavor on the node (the CPU index's signature), in one pass."""
        free = self.free
        return tuple(
            (flavor, tuple(sorted([free[i] for i in indices], reverse=True)))
            for flavor, indices in self.flavor_gpus.items()
        )

    @property
    def res(self) -> Res:
        return (self.cpu_free, self.mem_free)


def usable_gpus_by_flavor(node: Node) -> dict[str, tuple[int, ...]]:
    """Healthy GPU indices per flavor ("<model>" or "<model>:<mig profile>")."""
    profiles = dict(node.mig_profiles)
    by_flavor: dict[str, list[int]] = {}
    for index in range(node.gpu_count):
        if index not in node.unhealthy_gpus:
            profile = profiles.get(index)
            flavor = node.gpu_model if profile is None else f"{node.gpu_model}:{profile}"
            by_flavor.setdefault(flavor, []).append(index)
    return {flavor: tuple(indices) for flavor, indices in by_flavor.items()}


class ClusterState:
    """Implements placement_api.ClusterView; mutable for one cycle (commit what you place, release victims)."""

    def __init__(self, nodes: Iterable[Node], workload: WorkloadDistribution | None = None) -> None:
        self.nodes: list[NodeState] = []
        self._by_id: dict[str, NodeState] = {}
        self.indices: dict[str, FlavorIndex] = {}
        self.cpu_index = FlavorIndex(CPU_INDEX, counts_whole=False)
        # (level, domain, flavor) -> fully free GPUs; (level, domain) -> node orders
        self.domain_free: dict[tuple[str, str, str], int] = {}
        self.domain_nodes: dict[tuple[str, str], list[int]] = {}
        self.workload = workload if workload is not None else WorkloadDistribution()
        self.max_gpus_per_node = 1
        self.max_cpu_milli = 1
        seen: set[str] = set()
        for node in nodes:
            if node.node_id in seen:
                raise ValueError(f"node {node.node_id!r} appears twice in the snapshot")
            seen.add(node.node_id)
            if not node.schedulable:
                continue
            state = NodeState(node, len(self.nodes))
            self.nodes.append(state)
            self._by_id[node.node_id] = state
            self.max_gpus_per_node = max(self.max_gpus_per_node, node.gpu_count)
            self.max_cpu_milli = max(self.max_cpu_milli, node.cpu_milli)
            for level, domain in state.domains:
                if domain is not None:
                    self.domain_nodes.setdefault((level, domain), []).append(state.order)
            for flavor, indices in state.flavor_gpus.items():
                index = self.indices.get(flavor)
                if index is None:
                    index = self.indices[flavor] = FlavorIndex(flavor)
                index.max_gpus = max(index.max_gpus, len(indices))
            self._index(state)

    @classmethod
    def from_snapshot(
        cls,
        nodes: Iterable[Node],
        running: Iterable[RunningJob],
        workload: WorkloadDistribution | None = None,
    ) -> ClusterState:
        """The fleet minus what running jobs hold. Jobs on unschedulable or unknown nodes take nothing.

        `workload` is the target workload for fragmentation-aware policies; without one, it is learned
        from the running jobs and then from every request placed.
        """
        running = tuple(running)
        if workload is None:
            workload = WorkloadDistribution()
            for job in running:
                workload.observe(job.request)
        state = cls(nodes, workload)
        for job in running:
            state._take(job.request, job.placements, lenient=True)
        return state

    # ClusterView ---------------------------------------------------------------------------------

    def commit(self, request: JobRequest, placements: tuple[ReplicaPlacement, ...]) -> None:
        """Take a placement's capacity; a GPU without that much free (a double booking) is an error."""
        self._take(request, placements, lenient=False)

    def release(self, request: JobRequest, placements: tuple[ReplicaPlacement, ...]) -> None:
        """Give back a job's capacity (a preempted or ended job). Parts on excluded nodes or GPUs were never
        counted and are skipped; a GPU never shows more than all of it free."""
        for placement in placements:
            state = self._by_id.get(placement.node_id)
            if state is None:
                continue
            free = state.free
            gpus = [
                (i, min(placement.gpu_milli, WHOLE_GPU - free[i]))
                for i in placement.gpu_indices
                if self._usable(state, i)
            ]
            self._apply(state, gpus, request.cpu_milli_per_replica, request.memory_mib_per_replica)

    def free_gpus(self, flavor: str) -> int:
        index = self.indices.get(flavor)
        return index.free_whole if index is not None else 0

    # Reading -------------------------------------------------------------------------------------

    @property
    def flavors(self) -> tuple[str, ...]:
        return tuple(sorted(self.indices))

    def node(self, node_id: str) -> NodeState | None:
        return self._by_id.get(node_id)

    def free_milli(self, node_id: str) -> tuple[int, ...]:
        """Free thousandths per GPU index of a schedulable node (0 for unhealthy GPUs)."""
        return tuple(self._by_id[node_id].free)

    # Changing ------------------------------------------------------------------------------------

    def _take(self, request: JobRequest, placements: Iterable[ReplicaPlacement], lenient: bool) -> None:
        """Lenient (reading a snapshot): skip excluded nodes and GPUs, and a GPU booked beyond its capacity
        just counts as full, so one inconsistent record cannot stop scheduling. Strict: all are errors."""
        for placement in placements:
            state = self._by_id.get(placement.node_id)
            if state is None:
                if lenient:
                    continue
                raise ValueError(f"node {placement.node_id!r} is not schedulable in this snapshot")
            gpus = []
            for index in placement.gpu_indices:
                if not self._usable(state, index):
                    if lenient:
                        continue
                    raise ValueError(f"GPU {index} of node {placement.node_id!r} is not usable")
                taken = min(placement.gpu_milli, state.free[index]) if lenient else placement.gpu_milli
                gpus.append((index, -taken))
            self._apply(state, gpus, -request.cpu_milli_per_replica, -request.memory_mib_per_replica)

    @staticmethod
    def _usable(state: NodeState, index: int) -> bool:
        return index in state.usable

    def _apply(self, state: NodeState, gpus: list[tuple[int, int]], cpu: int, mem: int) -> None:
        """Add `gpus` (index, thousandths), `cpu` and `mem` (negative to take) and re-index the node."""
        free = state.free
        for index, delta in gpus:
            if not 0 <= free[index] + delta <= WHOLE_GPU:
                verb = "take" if delta < 0 else "give back"
                raise ValueError(
                    f"GPU {index} of node {state.node.node_id!r} has {free[index]} free thousandths: "
                    f"cannot {verb} {abs(delta)}"
                )
        self._unindex(state)
        for index, delta in gpus:
            free[index] += delta
        if state.cpu_tracked:
            state.cpu_free += cpu
        if state.node.memory_mib > 0:
            state.mem_free += mem
        self._index(state)

    def _index(self, state: NodeState) -> None:
        res = state.res
        sigs = state.sigs()
        for flavor, sig in sigs:
            self.indices[flavor].add(sig, res, state.order)
            state.keys[flavor] = (sig, res)
            whole = sig.count(WHOLE_GPU)
            for level, domain in state.domains:
                if domain is not None:
                    key = (level, domain, flavor)
                    self.domain_free[key] = self.domain_free.get(key, 0) + whole
        self.cpu_index.add(sigs, res, state.order)
        state.keys[CPU_INDEX] = (sigs, res)

    def _unindex(self, state: NodeState) -> None:
        for flavor in state.flavor_gpus:
            sig, res = state.keys[flavor]
            self.indices[flavor].remove(sig, res, state.order)
            whole = sig.count(WHOLE_GPU)
            for level, domain in state.domains:
                if domain is not None:
                    self.domain_free[(level, domain, flavor)] -= whole
        sigs, res = state.keys[CPU_INDEX]
        self.cpu_index.remove(sigs, res, state.order)

    def index_for(self, flavor: str) -> FlavorIndex:
        return self.cpu_index if flavor == CPU_ONLY_FLAVOR else self.indices[flavor]

    def key_name(self, flavor: str) -> str:
        return CPU_INDEX if flavor == CPU_ONLY_FLAVOR else flavor

    def node_at(self, order: int) -> NodeState:
        return self.nodes[order]
