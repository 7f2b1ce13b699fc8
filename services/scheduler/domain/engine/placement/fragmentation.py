"""Expected GPU fragmentation of a node under a target workload (Weng et al., USENIX ATC 2023, section 3).

For a node n and a task shape m, the node's GPU fragmentation F_n(m) is the free GPU capacity m cannot
use: all of it when m cannot be placed on n at all (CPU, memory, GPU model or GPU capacity lacking),
otherwise the free thousandths of the GPUs that hold less than m needs on one GPU (min(demand, 1 GPU)).
The expected fragmentation is F_n(M) = sum over shapes of p(m) * F_n(m); FGD places a task where F grows
least. Rewritten for speed: with U_m(n) the free thousandths on the GPUs that can serve m,
    F_n(M) = free(n) - sum over shapes m that fit n of p(m) * U_m(n),
and U depends only on the GPU signature while "fits" (CPU, memory, model) depends only on the node's free
CPU and memory: both factors are cached, so a node state costs one short dot product.
CPU-only shapes add p * free(n) to every node alike and never change a choice; they are left out.
"""

from __future__ import annotations

from bisect import bisect_right
from operator import mul

from services.scheduler.domain.engine.model import WHOLE_GPU
from services.scheduler.domain.engine.placement.cluster import UNTRACKED, Res, Sig
from services.scheduler.domain.engine.placement.workload import ReplicaShape, WorkloadDistribution

# Beyond this many cached node-state deltas the cache starts afresh (bounds memory on long replays).
MAX_CACHED_DELTAS = 400_000

Delta = tuple[float, int | None]  # growth of expected fragmentation, and the chosen GPU's free thousandths


def accepts(gpu_models: tuple[str, ...], flavor: str) -> bool:
    """Whether a request listing `gpu_models` may use GPUs of `flavor` (empty: any whole-GPU flavor)."""
    return flavor in gpu_models if gpu_models else ":" not in flavor


def fragmentation_model(workload: WorkloadDistribution) -> FragmentationModel:
    """The model for the workload as it is now, rebuilt only when the workload drifted."""
    model = workload.model_cache
    if not isinstance(model, FragmentationModel) or workload.drifted_from(
        model.built_total, model.built_shapes
    ):
        model = FragmentationModel(workload)
        workload.model_cache = model
    return model


class FragmentationModel:
    def __init__(self, workload: WorkloadDistribution) -> None:
        self.built_total = workload.total
        self.built_shapes = len(workload.counts)
        gpu_shapes = [
            (shape, models, weight) for (shape, models), weight in workload.counts.items() if shape.gpus
        ]
        total = sum(weight for _, _, weight in gpu_shapes) or 1.0
        # A class is what decides U: (thousandths needed per GPU, GPUs needed).
        classes = sorted({(shape.milli, shape.gpus) for shape, _, _ in gpu_shapes})
        self._classes = classes
        position = {c: j for j, c in enumerate(classes)}
        # Free CPU (memory) matters only through how many shapes' demands it covers: a node's CPU is
        # reduced to its step, the number of distinct shape demands at or below it (far fewer keys).
        self._cpu_steps = sorted({shape.cpu for shape, _, _ in gpu_shapes})
        self._mem_steps = sorted({shape.mem for shape, _, _ in gpu_shapes})
        self._shapes = [
            (
                position[(shape.milli, shape.gpus)],
                self._cpu_steps.index(shape.cpu),
                self._mem_steps.index(shape.mem),
                models,
                weight / total,
            )
            for shape, models, weight in gpu_shapes
        ]
        self._weights: dict[tuple[str, int, int], tuple[float, ...]] = {}
        self._usable: dict[Sig, tuple[int, ...]] = {}
        self._fragmentation: dict[tuple[str, Sig, int, int], float] = {}
        self.deltas: dict[tuple[str, ReplicaShape], dict[Sig, dict[Res, Delta]]] = {}
        self._cached_deltas = 0

    # The two cached factors ----------------------------------------------------------------------

    def _fit_weights(self, flavor: str, cpu_step: int, mem_step: int) -> tuple[float, ...]:
        """Per class: the probability of the shapes that fit a node's free CPU and memory steps on `flavor`."""
        key = (flavor, cpu_step, mem_step)
        weights = self._weights.get(key)
        if weights is None:
            acc = [0.0] * len(self._classes)
            for j, shape_cpu, shape_mem, models, p in self._shapes:
                if shape_cpu < cpu_step and shape_mem < mem_step and accepts(models, flavor):
                    acc[j] += p
            weights = self._weights[key] = tuple(acc)
        return weights

    def _usable_milli(self, sig: Sig) -> tuple[int, ...]:
        """Per class: the free thousandths on the GPUs that can serve it (0 when it cannot be placed)."""
        usable = self._usable.get(sig)
        if usable is None:
            full = sig.count(WHOLE_GPU)
            values = []
            for milli, gpus in self._classes:
                if gpus == 1:
                    values.append(sum(f for f in sig if f >= milli))
                else:
                    values.append(full * WHOLE_GPU if full >= gpus else 0)
            usable = self._usable[sig] = tuple(values)
        return usable

    def node_fragmentation(self, flavor: str, sig: Sig, res: Res) -> float:
        """F_n(M) for a node with GPU signature `sig` of `flavor` and free (CPU, memory) `res`."""
        cpu_step = bisect_right(self._cpu_steps, res[0])
        mem_step = bisect_right(self._mem_steps, res[1])
        key = (flavor, sig, cpu_step, mem_step)
        value = self._fragmentation.get(key)
        if value is None:
            weights = self._fit_weights(flavor, cpu_step, mem_step)
            value = sum(sig) - sum(map(mul, weights, self._usable_milli(sig)))
            self._fragmentation[key] = value
        return value

    # The gradient --------------------------------------------------------------------------------

    def delta_cache(self, flavor: str, shape: ReplicaShape) -> dict[Sig, dict[Res, Delta]]:
        if self._cached_deltas > MAX_CACHED_DELTAS:
            self.deltas.clear()
            self._fragmentation.clear()
            self._cached_deltas = 0
        key = (flavor, shape)
        cache = self.deltas.get(key)
        if cache is None:
            cache = self.deltas[key] = {}
        return cache

    def best_delta(self, flavor: str, shape: ReplicaShape, sig: Sig, res: Res) -> Delta:
        """The least growth of F when `shape` goes on such a node, and on which GPU (by free value)."""
        self._cached_deltas += 1
        after_res = _minus(res, shape)
        if not shape.gpus:  # CPU-only: sig nests the node's flavors; only CPU and memory change
            growth = 0.0
            for gpu_flavor, gpu_sig in sig:
                growth += self.node_fragmentation(gpu_flavor, gpu_sig, after_res)
                growth -= self.node_fragmentation(gpu_flavor, gpu_sig, res)
            return (growth, None)
        before = self.node_fragmentation(flavor, sig, res)
        if not shape.fractional:
            after_sig = sig[shape.gpus :] + (0,) * shape.gpus  # whole GPUs come off the fully free ones
            return (self.node_fragmentation(flavor, after_sig, after_res) - before, None)
        best: Delta | None = None
        for value in sorted(set(sig)):  # ascending: ties go to the tightest GPU
            if value >= shape.milli:
                after_sig = _take_share(sig, value, shape.milli)
                growth = self.node_fragmentation(flavor, after_sig, after_res) - before
                if best is None or growth < best[0]:
                    best = (growth, value)
        assert best is not None, "the caller checked that a GPU holds the share"
        return best


def _minus(res: Res, shape: ReplicaShape) -> Res:
    cpu, mem = res
    return (cpu - shape.cpu if cpu < UNTRACKED else cpu, mem - shape.mem if mem < UNTRACKED else mem)


def _take_share(sig: Sig, value: int, milli: int) -> Sig:
    values = list(sig)
    values.remove(value)
    values.append(value - milli)
    values.sort(reverse=True)
    return tuple(values)
