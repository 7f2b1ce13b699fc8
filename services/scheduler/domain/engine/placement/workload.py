"""Replica shapes and the target workload: how often each shape is asked for (FGD's task distribution)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest


@dataclass(frozen=True, slots=True)
class ReplicaShape:
    """What one replica needs on one node."""

    gpus: int  # GPUs (0: CPU-only); a fractional share counts as 1 GPU
    milli: int  # thousandths needed on each of those GPUs: 1000 unless it is a fractional share
    cpu: int = 0
    mem: int = 0

    @classmethod
    def of(cls, request: JobRequest) -> ReplicaShape:
        gpus = request.gpus_per_replica
        milli = request.gpu_milli if gpus == 1 else WHOLE_GPU
        return cls(gpus, milli, request.cpu_milli_per_replica, request.memory_mib_per_replica)

    @property
    def fractional(self) -> bool:
        return self.gpus == 1 and self.milli < WHOLE_GPU

    @property
    def gpu_milli_total(self) -> int:
        return self.gpus * self.milli

    def times(self, replicas: int) -> ReplicaShape:
        """`replicas` whole-GPU replicas packed on one node, as one shape."""
        return ReplicaShape(self.gpus * replicas, self.milli, self.cpu * replicas, self.mem * replicas)


ShapeKey = tuple[ReplicaShape, tuple[str, ...]]  # a shape and the GPU models/flavors it accepts


class WorkloadDistribution:
    """Counts of replica shapes seen; a job counts once (by id) however often it is offered.

    Fragmentation models derived from it are cached here (`model_cache`) and rebuilt only when the
    counts moved by more than `rebuild_drift` or a new shape appeared, so learning online stays cheap.
    """

    def __init__(self, rebuild_drift: float = 0.05, frozen: bool = False) -> None:
        self.frozen = frozen  # True: observe() changes nothing (a fixed target workload)
        self.counts: dict[ShapeKey, float] = {}
        self.total = 0.0
        self._seen: set[str] = set()
        self.rebuild_drift = rebuild_drift
        self.model_cache: Any = None  # owned by placement.fragmentation

    @classmethod
    def of(cls, requests: Iterable[JobRequest], frozen: bool = False) -> WorkloadDistribution:
        distribution = cls()
        for request in requests:
            distribution.observe(request)
        distribution.frozen = frozen
        return distribution

    def observe(self, request: JobRequest) -> None:
        if self.frozen or request.job_id in self._seen:
            return
        self._seen.add(request.job_id)
        self.add(ReplicaShape.of(request), request.gpu_models, float(request.replicas))

    def add(self, shape: ReplicaShape, gpu_models: tuple[str, ...] = (), weight: float = 1.0) -> None:
        key = (shape, gpu_models)
        self.counts[key] = self.counts.get(key, 0.0) + weight
        self.total += weight

    def drifted_from(self, total: float, shapes: int) -> bool:
        """Whether a model built at (`total`, `shapes`) no longer represents the counts."""
        return len(self.counts) != shapes or self.total > total * (1.0 + self.rebuild_drift)
