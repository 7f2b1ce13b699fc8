"""The search every placement policy shares: groups scored by the policy, gangs placed whole, topology first.

A policy supplies a Scorer (how good is a node in this state for this replica shape, and which GPU) and
inherits the rest:
  1. Flavors: a request naming gpu_models takes the first flavor, in its order of preference, where it
     fits; a request open to any model takes the best-scored placement over all flavors.
  2. A single replica goes to the best-scored index group (ties: the lowest node order, i.e. the
     snapshot's node order), then to a GPU on that node as the scorer chose.
  3. A gang (replicas > 1) is placed whole or not at all, all replicas on one flavor, each replica's GPUs
     on one node, preferring in turn: one node, one NVLink domain, one rack, then anywhere (topology
     awareness is part of every policy). Within a domain, the tightest domain that can hold the gang is
     tried first, and replicas go one by one to the policy's best node, each tentatively committed so
     the next sees it; the tentative commits are released before returning (place never commits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, ReplicaPlacement
from services.scheduler.domain.engine.placement.cluster import (
    CPU_ONLY_FLAVOR,
    TOPOLOGY_LEVELS,
    ClusterState,
    FlavorIndex,
    NodeState,
    Res,
    Sig,
)
from services.scheduler.domain.engine.placement.fragmentation import accepts
from services.scheduler.domain.engine.placement.workload import ReplicaShape
from services.scheduler.domain.engine.placement_api import ClusterView

Placements = tuple[ReplicaPlacement, ...]


class Scorer(Protocol):
    """Scores node groups for one replica shape on one flavor; lower is better."""

    def for_sig(self, sig: Sig) -> Any:
        """Per-signature work shared by the group's (CPU, memory) subgroups; None: skip the signature."""
        ...

    def score(self, context: Any, res: Res) -> tuple[Any, int | None]:
        """The score, and the free thousandths of the GPU to use for a fractional share (None: any)."""
        ...


@dataclass(slots=True)
class Choice:
    score: Any
    order: int
    option: int | None


def gpu_fits(sig: Sig, shape: ReplicaShape) -> bool:
    if not shape.gpus:
        return True
    if shape.fractional:
        return bool(sig) and sig[0] >= shape.milli
    return len(sig) >= shape.gpus and sig[shape.gpus - 1] == WHOLE_GPU  # sig is sorted descending


def best_group(index: FlavorIndex, shape: ReplicaShape, scorer: Scorer) -> Choice | None:
    """The best-scored group of the whole index (each group scored once). The hot loop: kept flat."""
    cpu, mem = shape.cpu, shape.mem
    # A signature is sorted descending: a share needs sig[0] >= milli, k whole GPUs need sig[k-1] == 1000.
    position, needed = (
        (-1, 0) if not shape.gpus else (0, shape.milli) if shape.fractional else (shape.gpus - 1, WHOLE_GPU)
    )
    for_sig, score_of = scorer.for_sig, scorer.score
    best: Choice | None = None
    for sig, by_res in index.groups.items():
        if position >= 0 and (len(sig) <= position or sig[position] < needed):
            continue
        context = _UNSET  # computed on the first subgroup with enough CPU and memory: many have none
        for res, orders in by_res.items():
            if res[0] < cpu or res[1] < mem:
                continue
            if context is _UNSET:
                context = for_sig(sig)
            if context is None:
                break
            score, option = score_of(context, res)
            if best is None or score < best.score or (score == best.score and orders[0] < best.order):
                best = Choice(score, orders[0], option)
    return best


_UNSET = object()


def best_among(
    state: ClusterState, flavor: str, orders: Sequence[int], shape: ReplicaShape, scorer: Scorer
) -> Choice | None:
    """The best-scored node among `orders` (a topology domain)."""
    key = state.key_name(flavor)
    best: Choice | None = None
    for order in orders:
        keys = state.node_at(order).keys.get(key)
        if keys is None:
            continue
        sig, res = keys
        if res[0] < shape.cpu or res[1] < shape.mem or not gpu_fits(sig, shape):
            continue
        context = scorer.for_sig(sig)
        if context is None:
            continue
        score, option = scorer.score(context, res)
        if best is None or score < best.score or (score == best.score and order < best.order):
            best = Choice(score, order, option)
    return best


def as_cluster_state(cluster: ClusterView) -> ClusterState:
    if not isinstance(cluster, ClusterState):
        raise TypeError(f"placement policies need a placement.ClusterState, got {type(cluster).__name__}")
    return cluster


class IndexedPolicy:
    """A PlacementPolicy over ClusterState's indices; subclasses give `scorer` (and may refine `pick_gpus`)."""

    name = ""
    description = ""

    def scorer(self, state: ClusterState, flavor: str, shape: ReplicaShape) -> Scorer:
        raise NotImplementedError

    def prepare(self, state: ClusterState, request: JobRequest) -> None:
        """Called once per place(); policies that learn from requests observe them here."""

    def pick_gpus(
        self, node: NodeState, flavor: str, shape: ReplicaShape, option: int | None
    ) -> tuple[int, ...]:
        if not shape.gpus:
            return ()
        free = node.free
        indices = node.flavor_gpus[flavor]
        if not shape.fractional:
            return tuple([i for i in indices if free[i] == WHOLE_GPU][: shape.gpus])
        if option is not None:
            return (next(i for i in indices if free[i] == option),)
        return (next(i for i in indices if free[i] >= shape.milli),)

    # PlacementPolicy ---------------------------------------------------------------------------

    def place(
        self, cluster: ClusterView, request: JobRequest, flavors: tuple[str, ...]
    ) -> tuple[str, Placements] | None:
        state = as_cluster_state(cluster)
        if request.replicas < 1:
            return None
        self.prepare(state, request)
        shape = ReplicaShape.of(request)
        best: tuple[Any, str, Placements] | None = None
        for flavor in self._candidate_flavors(state, request, shape, flavors):
            found = self._place_on(state, request, shape, flavor)
            if found is None:
                continue
            cost, placements = found
            if request.gpu_models:  # an explicit preference: the first flavor that fits wins
                return flavor, placements
            if best is None or cost < best[0]:
                best = (cost, flavor, placements)
        return (best[1], best[2]) if best is not None else None

    @staticmethod
    def _candidate_flavors(
        state: ClusterState, request: JobRequest, shape: ReplicaShape, flavors: tuple[str, ...]
    ) -> list[str]:
        if not shape.gpus:
            return [CPU_ONLY_FLAVOR]
        if request.gpu_models:
            ordered = [f for f in request.gpu_models if f in state.indices]
        else:
            ordered = [f for f in state.flavors if accepts((), f)]
        if flavors:
            allowed = set(flavors)
            ordered = [f for f in ordered if f in allowed]
        return ordered

    def _place_on(
        self, state: ClusterState, request: JobRequest, shape: ReplicaShape, flavor: str
    ) -> tuple[Any, Placements] | None:
        index = state.index_for(flavor)
        if shape.gpus and not shape.fractional and index.free_whole < shape.gpus * request.replicas:
            return None  # not enough fully free GPUs anywhere: no need to look (a full fleet fails fast)
        if request.replicas == 1:
            choice = best_group(index, shape, self.scorer(state, flavor, shape))
            if choice is None:
                return None
            node = state.node_at(choice.order)
            gpus = self.pick_gpus(node, flavor, shape, choice.option)
            return (0, choice.score, choice.order), (
                ReplicaPlacement(0, node.node.node_id, gpus, shape.milli),
            )
        return self._place_gang(state, request, shape, flavor, index)

    def _place_gang(
        self, state: ClusterState, request: JobRequest, shape: ReplicaShape, flavor: str, index: FlavorIndex
    ) -> tuple[Any, Placements] | None:
        replicas = request.replicas
        # 1. One node. Whole GPUs: the gang is one shape R times as large; shares: all on the first's node.
        if not shape.fractional and shape.gpus * replicas <= max(index.max_gpus, 0 if shape.gpus else 1):
            packed = shape.times(replicas)
            choice = best_group(index, packed, self.scorer(state, flavor, packed))
            if choice is not None:
                node = state.node_at(choice.order)
                gpus = self.pick_gpus(node, flavor, packed, None)
                per = shape.gpus
                placements = tuple(
                    ReplicaPlacement(r, node.node.node_id, gpus[r * per : (r + 1) * per], shape.milli)
                    for r in range(replicas)
                )
                return (0, choice.score, choice.order), placements
        scorer = self.scorer(state, flavor, shape)
        if shape.fractional:
            first = best_group(index, shape, scorer)
            if first is not None:
                found = self._one_by_one(state, request, shape, flavor, scorer, [first.order])
                if found is not None:
                    return (0, first.score, first.order), found
        # 2. One NVLink domain, then one rack: the tightest domain with enough fully free GPUs first.
        needed = shape.gpus * replicas if not shape.fractional else 0
        for rank, level in enumerate(TOPOLOGY_LEVELS, start=1):
            domains = sorted(
                (state.domain_free.get((lvl, name, flavor), 0), name, orders)
                for (lvl, name), orders in state.domain_nodes.items()
                if lvl == level
                and (not shape.gpus or state.domain_free.get((lvl, name, flavor), 0) >= needed)
            )
            for _, _, orders in domains:
                found = self._one_by_one(state, request, shape, flavor, scorer, orders)
                if found is not None:
                    return (rank, 0, 0), found
        # 3. Anywhere.
        found = self._one_by_one(state, request, shape, flavor, scorer, None)
        return ((len(TOPOLOGY_LEVELS) + 1, 0, 0), found) if found is not None else None

    def _one_by_one(
        self,
        state: ClusterState,
        request: JobRequest,
        shape: ReplicaShape,
        flavor: str,
        scorer: Scorer,
        orders: Sequence[int] | None,
    ) -> Placements | None:
        """All replicas, each on the best node (within `orders` if given), or None; leaves the state as it was."""
        placed: list[ReplicaPlacement] = []
        try:
            for replica in range(request.replicas):
                if orders is None:
                    choice = best_group(state.index_for(flavor), shape, scorer)
                else:
                    choice = best_among(state, flavor, orders, shape, scorer)
                if choice is None:
                    return None
                node = state.node_at(choice.order)
                gpus = self.pick_gpus(node, flavor, shape, choice.option)
                placement = ReplicaPlacement(replica, node.node.node_id, gpus, shape.milli)
                state.commit(request, (placement,))
                placed.append(placement)
            return tuple(placed)
        finally:
            if placed:
                state.release(request, tuple(placed))
