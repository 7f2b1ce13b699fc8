"""The placement policies: first fit, best fit, and Fragmentation Gradient Descent (two scorings).

Each only says how good a node state is for a replica shape; search.IndexedPolicy does the rest (flavors,
gangs, topology, GPU choice).
"""

from __future__ import annotations

import math
from typing import Any

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest
from services.scheduler.domain.engine.placement.cluster import UNTRACKED, ClusterState, Res, Sig
from services.scheduler.domain.engine.placement.fragmentation import (
    FragmentationModel,
    fragmentation_model,
)
from services.scheduler.domain.engine.placement.search import IndexedPolicy, Scorer
from services.scheduler.domain.engine.placement.workload import ReplicaShape


def _free_total(sig: Sig, gpus: int) -> int:
    """Free thousandths of a signature (for the all-nodes index, summed over the node's flavors)."""
    if gpus:
        return sum(sig)
    return sum([sum(flavor_sig) for _, flavor_sig in sig])


def _tightest(sig: Sig, milli: int) -> int:
    """The least free value that still holds a share of `milli` (best fit within the node)."""
    for value in reversed(sig):  # ascending
        if value >= milli:
            return value
    raise ValueError("the caller checked that a GPU holds the share")


class _FirstFitScorer:
    def for_sig(self, sig: Sig) -> Any:
        return True

    def score(self, context: Any, res: Res) -> tuple[Any, int | None]:
        return 0, None


class FirstFit(IndexedPolicy):
    name = "first_fit"
    description = "the first node in snapshot order that fits; the lowest-numbered GPUs on it"

    def scorer(self, state: ClusterState, flavor: str, shape: ReplicaShape) -> Scorer:
        return _FirstFitScorer()


class _BestFitScorer:
    """Score = 0.5 * CPU left / max node CPU + 0.5 * GPU left / max node GPUs (the FGD paper's BestFit)."""

    def __init__(self, state: ClusterState, shape: ReplicaShape) -> None:
        self._gpus = shape.gpus
        self._share = shape.milli if shape.fractional else 0
        self._demand = shape.gpu_milli_total
        self._cpu = shape.cpu
        self._gpu_norm = 2.0 * state.max_gpus_per_node * 1000
        self._cpu_norm = 2.0 * state.max_cpu_milli

    def for_sig(self, sig: Sig) -> Any:
        option = _tightest(sig, self._share) if self._share else None
        return (_free_total(sig, self._gpus) - self._demand) / self._gpu_norm, option

    def score(self, context: Any, res: Res) -> tuple[Any, int | None]:
        gpu_left, option = context
        cpu = res[0]
        cpu_left = (cpu - self._cpu) / self._cpu_norm if cpu < UNTRACKED else 0.0
        return gpu_left + cpu_left, option


class BestFit(IndexedPolicy):
    name = "best_fit"
    description = (
        "the node left with the least free GPU and CPU after placing (FGD paper's BestFit); tightest GPU"
    )

    def scorer(self, state: ClusterState, flavor: str, shape: ReplicaShape) -> Scorer:
        return _BestFitScorer(state, shape)


def paper_score(growth: float) -> int:
    """FGD's score as the authors' simulator computes it, negated so lower is better.

    score = int(100 * sigmoid(-growth / 1 GPU)): growths within about 40 thousandths of a GPU of each
    other (near zero; more further out) share a score, so ties are common and a tie-break decides.
    """
    return -int(100.0 / (1.0 + math.exp(growth / WHOLE_GPU)))


class _FgdScorer:
    """Growth of the node's expected fragmentation, cached per node state (most groups hit the cache)."""

    def __init__(self, model: FragmentationModel, flavor: str, shape: ReplicaShape, scaled: bool) -> None:
        self._model = model
        self._flavor = flavor
        self._shape = shape
        self._scaled = scaled
        self._cache = model.delta_cache(flavor, shape)

    def for_sig(self, sig: Sig) -> Any:
        by_res = self._cache.get(sig)
        if by_res is None:
            by_res = self._cache[sig] = {}
        return sig, by_res

    def score(self, context: Any, res: Res) -> tuple[Any, int | None]:
        sig, by_res = context
        delta = by_res.get(res)
        if delta is None:
            delta = by_res[res] = self._model.best_delta(self._flavor, self._shape, sig, res)
        return (paper_score(delta[0]), delta[1]) if self._scaled else delta


class Fgd(IndexedPolicy):
    name = "fgd"
    description = (
        "Fragmentation Gradient Descent (Weng et al., ATC'23): least growth of expected GPU fragmentation,"
        " scored as the paper's simulator does (whole points of 100*sigmoid); ties to the first node"
    )
    scaled = True

    def prepare(self, state: ClusterState, request: JobRequest) -> None:
        state.workload.observe(request)

    def scorer(self, state: ClusterState, flavor: str, shape: ReplicaShape) -> Scorer:
        return _FgdScorer(fragmentation_model(state.workload), flavor, shape, self.scaled)


class FgdExact(Fgd):
    name = "fgd_exact"
    description = "FGD on the exact growth of expected fragmentation (no score scale); ties to the first node"
    scaled = False
