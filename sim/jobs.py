"""One job's life in the simulation: its runs, checkpoints, preemptions and the work they cost.

Work is counted in seconds of progress. A run starts at `run_start`, spends `run_penalty` seconds
restoring (no progress), then progresses one second per second from `run_progress0`. A checkpointable
job saves a checkpoint every `checkpoint_s` seconds of progress; a preempted job resumes from its last
one, a non-checkpointable job from zero.
"""

from __future__ import annotations

import math
from enum import IntEnum

from services.scheduler.domain.engine.model import WHOLE_GPU, JobOutcome, ReplicaPlacement, RunningJob
from sim.trace import TraceJob


class Phase(IntEnum):
    WAITING = 0  # not yet submitted
    PENDING = 1
    RUNNING = 2
    DONE = 3


class SimJob:
    __slots__ = (
        "attained_gpu_s",
        "checkpoint_s",
        "duration_s",
        "end",
        "first_start",
        "generation",
        "gpus",
        "lost_work_s",
        "outcome",
        "phase",
        "preemptions",
        "request",
        "requeues",
        "run_penalty",
        "run_progress0",
        "run_start",
        "running",
        "saved_progress",
        "terminating",
    )

    def __init__(self, trace_job: TraceJob, checkpoint_s: float) -> None:
        if trace_job.duration_s is None:
            raise ValueError(f"job {trace_job.request.job_id} has no duration")
        self.request = trace_job.request
        self.duration_s = trace_job.duration_s
        self.checkpoint_s = checkpoint_s if self.request.checkpointable and checkpoint_s > 0 else math.inf
        self.gpus = self.request.gpu_demand_milli / WHOLE_GPU  # GPU equivalents, fractional for shares
        self.phase = Phase.WAITING
        self.saved_progress = 0.0  # what the next run resumes from
        self.run_start = 0.0
        self.run_penalty = 0.0
        self.run_progress0 = 0.0
        self.generation = 0  # bumped on every start and stop: events of older runs are stale
        self.running: RunningJob | None = None
        self.terminating = False
        self.first_start: float | None = None
        self.end: float | None = None
        self.outcome: JobOutcome | None = None
        self.preemptions = 0
        self.requeues = 0  # lost their node or GPU
        self.attained_gpu_s = 0.0  # GPU-seconds held in finished runs
        self.lost_work_s = 0.0  # progress thrown away by preemptions and lost nodes

    @property
    def job_id(self) -> str:
        return self.request.job_id

    # 1. Progress arithmetic ------------------------------------------------------------------------

    def progress_at(self, now: float) -> float:
        return min(self.duration_s, self.run_progress0 + max(0.0, now - self.run_start - self.run_penalty))

    def finish_time(self) -> float:
        return self.run_start + self.run_penalty + (self.duration_s - self.run_progress0)

    def checkpoint_progress_at(self, now: float) -> float:
        """Progress saved by the last checkpoint at `now` (the resume point of this run at least)."""
        progress = self.progress_at(now)
        if self.checkpoint_s == math.inf:
            return self.run_progress0
        return max(self.run_progress0, math.floor(progress / self.checkpoint_s) * self.checkpoint_s)

    def checkpoint_time(self, progress: float) -> float:
        """When this run reaches `progress`."""
        return self.run_start + self.run_penalty + (progress - self.run_progress0)

    def first_checkpoint_at(self) -> float:
        """When this run writes its first checkpoint (inf: never, or not before it ends)."""
        if self.checkpoint_s == math.inf:
            return math.inf
        target = (math.floor(self.run_progress0 / self.checkpoint_s) + 1) * self.checkpoint_s
        return self.checkpoint_time(target) if target < self.duration_s else math.inf

    # 2. Transitions --------------------------------------------------------------------------------

    def start(
        self,
        now: float,
        flavor: str,
        placements: tuple[ReplicaPlacement, ...],
        borrowing: bool,
        penalty: float,
    ) -> None:
        self.phase = Phase.RUNNING
        self.generation += 1
        self.run_start = now
        self.run_penalty = penalty
        self.run_progress0 = self.saved_progress
        if self.first_start is None:
            self.first_start = now
        self.running = RunningJob(self.request, flavor, placements, now, None, borrowing)

    def checkpoint_written(self, at: float, now: float) -> float:
        """A checkpoint was due at `at` (<= now): show the latest one written by `now` to the engine.
        Returns when the next one is due (inf: not before the job ends)."""
        assert self.running is not None
        end = self.finish_time()
        while at + self.checkpoint_s <= now and at + self.checkpoint_s < end:
            at += self.checkpoint_s
        r = self.running
        self.running = RunningJob(r.request, r.flavor, r.placements, r.started_at, at, r.borrowing)
        upcoming = at + self.checkpoint_s
        return upcoming if upcoming < end else math.inf

    def interrupt(self, now: float) -> float:
        """Stop the run without finishing (preempted, node lost); back to pending. Returns work lost."""
        reached = self.progress_at(now)
        self.saved_progress = self.checkpoint_progress_at(now) if self.request.checkpointable else 0.0
        lost = reached - self.saved_progress
        self._close_run(now)
        self.phase = Phase.PENDING
        self.lost_work_s += lost
        return lost

    def finish(self, now: float, outcome: JobOutcome) -> None:
        if self.phase == Phase.RUNNING:
            self._close_run(now)
        self.phase = Phase.DONE
        self.end = now
        self.outcome = outcome

    def _close_run(self, now: float) -> None:
        self.attained_gpu_s += (now - self.run_start) * self.gpus
        self.generation += 1
        self.running = None
        self.terminating = False

    def attained_at(self, now: float) -> float:
        """GPU-seconds attained so far, the current run included."""
        if self.phase == Phase.RUNNING:
            return self.attained_gpu_s + (now - self.run_start) * self.gpus
        return self.attained_gpu_s
