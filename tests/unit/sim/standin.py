"""A deliberately simple decide() for testing the simulator on its own: strict FIFO, first fit,
maximum runtime stops, and (optionally) preemption of the newest lower-priority job for a blocked
higher-priority one. The simulator's own tests must not depend on the real engine's choices."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.scheduler.domain.engine.model import (
    WHOLE_GPU,
    Decisions,
    JobRequest,
    Place,
    Preempt,
    ReplicaPlacement,
    Snapshot,
    Stop,
)


@dataclass
class StandIn:
    preempt_grace_s: float | None = None  # None: never preempts
    seen: list[Snapshot] = field(default_factory=list)

    def __call__(self, snapshot: Snapshot, policy: object) -> Decisions:
        self.seen.append(snapshot)
        free = {n.node_id: [WHOLE_GPU] * n.gpu_count for n in snapshot.nodes}
        for node in snapshot.nodes:
            for index in node.unhealthy_gpus:
                free[node.node_id][index] = 0
            if not node.schedulable:
                free[node.node_id] = [0] * node.gpu_count
        for job in snapshot.running:
            for p in job.placements:
                for index in p.gpu_indices:
                    free[p.node_id][index] -= p.gpu_milli
        decisions: list = [
            Stop(r.request.job_id, "max runtime")
            for r in snapshot.running
            if r.request.max_runtime_s is not None and snapshot.now - r.started_at >= r.request.max_runtime_s
        ]
        for job in sorted(snapshot.pending, key=lambda j: (-j.priority, j.submitted_at)):
            placements = first_fit(free, job)
            if placements is None:
                decisions += self._preempt_for(snapshot, job)
                break  # strict FIFO: nothing overtakes a blocked head job
            decisions.append(Place(job.job_id, "A100", placements))
        return Decisions(tuple(decisions))

    def _preempt_for(self, snapshot: Snapshot, job: JobRequest) -> list[Preempt]:
        if self.preempt_grace_s is None:
            return []
        victims = [
            r
            for r in snapshot.running
            if r.request.priority < job.priority and r.request.job_id not in snapshot.terminating
        ]
        if not victims:
            return []
        newest = max(victims, key=lambda r: r.started_at)
        return [Preempt(newest.request.job_id, "priority", self.preempt_grace_s, job.job_id)]


def first_fit(free: dict[str, list[int]], job: JobRequest) -> tuple[ReplicaPlacement, ...] | None:
    """Commits into `free` only when the whole gang fits."""
    trial = {node: list(gpus) for node, gpus in free.items()}
    share = job.gpu_milli if job.gpus_per_replica == 1 else WHOLE_GPU
    placements = []
    for replica in range(job.replicas):
        for node, gpus in trial.items():
            indices = [i for i, left in enumerate(gpus) if left >= share][: job.gpus_per_replica]
            if len(indices) == job.gpus_per_replica:
                for i in indices:
                    gpus[i] -= share
                placements.append(ReplicaPlacement(replica, node, tuple(indices), share))
                break
        else:
            return None
    free.update(trial)
    return tuple(placements)
