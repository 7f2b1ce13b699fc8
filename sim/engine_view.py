"""What the simulator keeps for the engine between cycles: the running jobs as the engine sees them,
and (given the engine's cluster factory) the engine's cluster state, its index of the running jobs
and its EngineCache.

Left to itself the engine brings its state up to date by comparing each snapshot with the last one,
a pass over thousands of jobs per cycle. The simulator knows what changed, so it keeps that state up
to date job by job and hands it to decide(): its placements are committed by decide() itself, what
leaves is released here. The rest the engine keeps between cycles (the fleet's flavors, the gate's
memo, the last Holds) is in the simulator's EngineCache.
"""

from __future__ import annotations

from typing import Any

from services.scheduler.domain.engine.cache import EngineCache
from services.scheduler.domain.engine.model import Decisions, RunningJob, Snapshot
from services.scheduler.domain.engine.running_index import RunningIndex
from sim.config import ClusterFactory, DecideFn


class EngineView:
    def __init__(self, cluster_factory: ClusterFactory | None) -> None:
        self._jobs: dict[str, RunningJob] = {}
        self._view: tuple[RunningJob, ...] | None = None
        self._factory = cluster_factory
        self._cluster: Any = None  # made at the first cycle, and again after a node event
        self._index = RunningIndex() if cluster_factory is not None else None  # of exactly view()
        self._cache = EngineCache()

    def decide(self, decide: DecideFn, snapshot: Snapshot, policy: Any) -> Decisions:
        if self._factory is None:
            return decide(snapshot, policy)
        if self._cluster is None:
            self._cluster = self._factory(snapshot.nodes, snapshot.running)
        return decide(snapshot, policy, cluster=self._cluster, running=self._index, cache=self._cache)

    def nodes_changed(self) -> None:
        self._cluster = None  # rebuilt from the new node states at the next cycle

    def set(self, job_id: str, job: RunningJob) -> None:
        """The job started, or shows a new state (a checkpoint)."""
        old = self._jobs.get(job_id)
        self._jobs[job_id] = job
        self._view = None
        if self._index is not None:
            if old is not None:
                self._index.replace(old, job)
            else:
                self._index.add(job)

    def remove(self, job_id: str) -> None:
        """The job left its GPUs."""
        job = self._jobs.pop(job_id)
        self._view = None
        if self._index is not None:
            self._index.remove(job)
        if self._cluster is not None:
            self._cluster.release(job.request, job.placements)

    def view(self) -> tuple[RunningJob, ...]:
        """The snapshot's running jobs: the same tuple until something changes."""
        if self._view is None:
            self._view = tuple(self._jobs.values())
        return self._view
