"""Discrete-event replay of a trace through the policy engine, on a simulated clock.

The simulator owns time, the fleet and the jobs' true durations; every scheduling choice comes from
the `decide(snapshot, policy)` it is given (the production engine), so what it measures is what the
live scheduler would do. One loop:
  1. take the earliest of: the next event batch (arrivals, job ends, grace expiries, max-runtime
     wake-ups, node health) and the next scheduling cycle;
  2. events change state and mark the engine's view dirty;
  3. a cycle (after a change, at most once per `interval_s`; while work waits, also when a running job
     passes its minimum runtime or a least-attained-service threshold, and every `idle_recheck_s`)
     builds a Snapshot, calls decide, and applies Stop, Fail, Preempt, then Place.
With `cluster_factory` (the engine's ClusterState.from_snapshot) the simulator keeps the engine's
cluster state and its index of the running jobs between cycles (engine_view): decide() commits its
placements, the simulator releases what leaves, so no cycle rebuilds the fleet's indices or goes over
every running job. The garbage collector is calmed for the run (heap.py).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

from services.scheduler.domain.engine.fairness import decay_usage
from services.scheduler.domain.engine.model import (
    Decisions,
    Fail,
    JobOutcome,
    JobRequest,
    Place,
    Preempt,
    Reserve,
    Snapshot,
    Stop,
)
from sim.cluster import SimCluster
from sim.config import ClusterFactory, Counters, DecideFn, ProgressFn, SimConfig
from sim.engine_view import EngineView
from sim.heap import calm_collector
from sim.jobs import Phase, SimJob
from sim.metrics import SimResult, TimeSeries
from sim.trace import NodeEvent, Workload, default_queues

# Job event kinds, in the order they are handled at one instant (then node health events).
_FINISH, _GRACE_OVER, _WAKE, _RECHECK = 0, 1, 2, 3


class SimulationError(RuntimeError):
    """The engine returned a decision that cannot be carried out (a bug to fix, not a result)."""


class Simulation:
    def __init__(
        self,
        workload: Workload,
        decide: DecideFn,
        policy: Any,
        config: SimConfig | None = None,
        progress: ProgressFn | None = None,
        timer: Callable[[], float] | None = None,
        cluster_factory: ClusterFactory | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self._decide, self._policy, self._progress = decide, policy, progress
        self._timer = timer
        self.cluster = SimCluster(workload.nodes)
        default_checkpoint = self.config.checkpoint_interval_s
        self.jobs = [
            SimJob(j, workload.checkpoint_s.get(j.request.job_id, default_checkpoint)) for j in workload.jobs
        ]
        if len({job.job_id for job in self.jobs}) != len(self.jobs):
            raise ValueError("job ids must be unique")
        self.queues = workload.queues or default_queues(workload.jobs)
        self._node_events = workload.node_events
        self._watched = {d.job_id for job in self.jobs for d in job.request.depends_on}
        self.now = self.jobs[0].request.submitted_at if self.jobs else 0.0
        self._next_arrival = 0
        self._next_node_event = 0
        self._heap: list[tuple[float, int, int, SimJob, int]] = []
        self._checkpoints: list[tuple[float, int, SimJob, int]] = []
        self._seq = 0
        self._pending: dict[str, SimJob] = {}
        self._running: dict[str, SimJob] = {}
        self._outcomes: dict[str, JobOutcome] = {}
        self._pending_requests: dict[str, JobRequest] = {}  # what the engine sees of `_pending`
        self._pending_view: tuple[JobRequest, ...] | None = None
        # The engine's view of each running job (replaced when it checkpoints), and the jobs in their
        # grace period: kept up to date so a snapshot costs a C-level copy, not a pass in Python.
        self._engine = EngineView(cluster_factory)
        self._terminating: set[str] = set()
        self._dirty_since: float | None = None
        self._last_cycle = -math.inf
        self._done = 0
        self._usage: dict[str, float] = {}  # decayed GPU-seconds per queue (the fair-share history)
        self._queue_gpus = {q.queue_id: 0.0 for q in self.queues}  # GPUs held now, per queue
        self._queue_since: dict[str, float] = {}  # when each queue's allocation last changed
        self._queue_used: dict[str, float] = {}  # GPU-seconds per queue since the last cycle
        self._usage_at = self.now
        # Integrals over time of allocated thousandths and of GPUs in use (the ratios' numerators).
        self.allocated_milli_s = self.busy_gpu_s = 0.0
        self._area_at = self.now
        self.counters = Counters()
        self.series = TimeSeries()

    @property
    def running_count(self) -> int:
        return len(self._running)

    # 1. The loop ----------------------------------------------------------------------------------

    def run(self) -> SimResult:
        with calm_collector():  # the trace and the fleet are frozen: the collector walks cycles' garbage
            self._loop()
        return SimResult.collect(self)

    def _loop(self) -> None:
        while True:
            event_at = self._next_event_time()
            cycle_at = self._next_cycle_time()
            if cycle_at is None and event_at == math.inf:
                break
            if cycle_at is not None and cycle_at < event_at:  # events at an instant come first
                self._advance(cycle_at)
                self._cycle()
                if self.config.max_cycles is not None and self.counters.cycles >= self.config.max_cycles:
                    break
            else:
                self._advance(event_at)
                self._handle_events_at(event_at)
        self._advance(self.now)

    def _next_event_time(self) -> float:
        candidates = [self._heap[0][0]] if self._heap else []
        if self._next_arrival < len(self.jobs):
            candidates.append(self.jobs[self._next_arrival].request.submitted_at)
        if self._next_node_event < len(self._node_events):
            candidates.append(self._node_events[self._next_node_event].at)
        return min(candidates, default=math.inf)

    def _next_cycle_time(self) -> float | None:
        earliest = self._last_cycle + self.config.interval_s
        if self._dirty_since is not None:
            return max(self._dirty_since, earliest)
        if self._pending and self._running:
            return max(self.now, self._last_cycle + self.config.idle_recheck_s)
        return None

    def _advance(self, t: float) -> None:
        dt = t - self._area_at
        if dt > 0:
            self.allocated_milli_s += self.cluster.allocated_milli * dt
            self.busy_gpu_s += self.cluster.busy_gpus * dt
            self._area_at = t
        self.now = max(self.now, t)

    def _mark_dirty(self) -> None:
        if self._dirty_since is None:
            self._dirty_since = self.now

    def _enqueue(self, job: SimJob) -> None:
        self._pending[job.job_id] = job
        self._pending_requests[job.job_id] = job.request
        self._pending_view = None

    def _dequeue(self, job: SimJob) -> None:
        del self._pending[job.job_id]
        del self._pending_requests[job.job_id]
        self._pending_view = None

    def _push(self, at: float, kind: int, job: SimJob) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, kind, self._seq, job, job.generation))

    # 2. Events ------------------------------------------------------------------------------------

    def _handle_events_at(self, t: float) -> None:
        jobs, node_events = self.jobs, self._node_events
        while self._next_arrival < len(jobs) and jobs[self._next_arrival].request.submitted_at <= t:
            job = jobs[self._next_arrival]
            self._next_arrival += 1
            job.phase = Phase.PENDING
            self._enqueue(job)
            self._mark_dirty()
        while self._heap and self._heap[0][0] <= t:
            _, kind, _, job, generation = heapq.heappop(self._heap)
            if job.generation != generation:
                continue  # an event of an earlier run
            if kind == _FINISH:
                self._finish(job, JobOutcome.SUCCEEDED)
            elif kind == _GRACE_OVER:
                self._interrupt(job, preempted=True)
            elif kind == _WAKE or self._pending:
                self._mark_dirty()  # max runtime reached (the engine stops it), or a victim may now go
        while self._next_node_event < len(node_events) and node_events[self._next_node_event].at <= t:
            self._node_event(node_events[self._next_node_event])
            self._next_node_event += 1

    def _node_event(self, event: NodeEvent) -> None:
        affected = self.cluster.set_health(event.node_id, event.kind, event.gpu_index)
        self._engine.nodes_changed()
        for job_id in sorted(affected):
            job = self._running[job_id]
            assert job.running is not None
            if event.kind == "gpu_fail" and not any(
                p.node_id == event.node_id and event.gpu_index in p.gpu_indices
                for p in job.running.placements
            ):
                continue
            self._interrupt(job, preempted=False)
        self._mark_dirty()

    # 3. Cycle -------------------------------------------------------------------------------------

    def _cycle(self) -> None:
        self.counters.cycles += 1
        self._dirty_since = None
        self._last_cycle = self.now
        self._refresh_checkpoints()
        self._refresh_usage()
        snapshot = self._snapshot()
        started = self._timer() if self._timer else 0.0
        decisions = self._engine.decide(self._decide, snapshot, self._policy)
        if self._timer:
            self.counters.decide_s += self._timer() - started
        self._apply(decisions)
        self.series.add(
            self.now, self.cluster.allocated_milli / max(1, self.cluster.capacity_milli), len(self._pending)
        )
        if self._progress is not None:
            self._progress(self._done, len(self.jobs), self.now)

    def _snapshot(self) -> Snapshot:
        if self._pending_view is None:
            self._pending_view = tuple(self._pending_requests.values())
        now = self.now
        attained: tuple[tuple[str, float], ...] = ()
        if self.config.track_attained_service:
            attained = tuple(
                (job.job_id, job.attained_at(now))
                for group in (self._running.values(), self._pending.values())
                for job in group
                if job.phase == Phase.RUNNING or job.attained_gpu_s > 0
            )
        return Snapshot(
            now=now,
            nodes=self.cluster.snapshot_nodes(),
            queues=self.queues,
            pending=self._pending_view,
            running=self._engine.view(),
            usage_history=tuple(self._usage.items()),
            outcomes=tuple(self._outcomes.items()),
            terminating=frozenset(self._terminating),
            attained_service=attained,
        )

    def _refresh_checkpoints(self) -> None:
        """Show the engine each running job's latest checkpoint (it picks victims by work lost)."""
        heap = self._checkpoints
        while heap and heap[0][0] <= self.now:
            at, _, job, generation = heapq.heappop(heap)
            if job.generation != generation:
                continue
            upcoming = job.checkpoint_written(at, self.now)
            self._engine.set(job.job_id, job.running)  # type: ignore[arg-type]
            self._schedule_checkpoint(job, upcoming)

    def _schedule_checkpoint(self, job: SimJob, at: float) -> None:
        if at != math.inf and self.config.checkpoints_in_snapshot:
            self._seq += 1
            heapq.heappush(self._checkpoints, (at, self._seq, job, job.generation))

    def _allocation_changes(self, queue: str, gpus: float) -> None:
        """Account the queue's GPU-seconds up to now before its allocation changes by `gpus`."""
        held = self._queue_gpus.get(queue, 0.0)
        self._queue_used[queue] = self._queue_used.get(queue, 0.0) + held * (
            self.now - self._queue_since.get(queue, self.now)
        )
        self._queue_since[queue] = self.now
        self._queue_gpus[queue] = held + gpus

    def _refresh_usage(self) -> None:
        """Decay the fair-share history by the engine's own rule, adding each queue's GPU-seconds since
        the last cycle (the engine takes them as spread evenly: exact enough for a half-life of hours)."""
        dt = self.now - self._usage_at
        if dt <= 0:
            return
        for queue in self._queue_gpus:
            self._allocation_changes(queue, 0.0)
        used = {queue: gpu_s for queue, gpu_s in self._queue_used.items() if gpu_s > 0}
        self._usage = decay_usage(self._usage, used, dt, self.config.usage_half_life_s)
        self._queue_used.clear()
        self._usage_at = self.now

    # 4. Applying decisions ------------------------------------------------------------------------

    def _apply(self, decisions: Decisions) -> None:
        items = decisions.items
        for d in items:
            if isinstance(d, Stop):
                job = self._running.get(d.job_id)
                if job is None:
                    self.counters.ignored.append(f"stop {d.job_id}: not running")
                    continue
                self.counters.stops += 1
                self._finish(job, JobOutcome.FAILED)
            elif isinstance(d, Fail):
                job = self._pending.get(d.job_id)
                if job is None:
                    self.counters.ignored.append(f"fail {d.job_id}: not pending")
                    continue
                self.counters.fails += 1
                self._dequeue(job)
                self._close(job, JobOutcome.FAILED)
            elif isinstance(d, Reserve):
                self.counters.reservations += 1
        for d in items:
            if isinstance(d, Preempt):
                self._preempt(d)
        for d in items:
            if isinstance(d, Place):
                self._place(d)

    def _preempt(self, d: Preempt) -> None:
        job = self._running.get(d.job_id)
        if job is None or job.terminating:
            self.counters.ignored.append(f"preempt {d.job_id}: not running or already terminating")
            return
        if d.grace_s <= 0:
            self._interrupt(job, preempted=True)
            return
        job.terminating = True
        self._terminating.add(job.job_id)
        self._push(self.now + d.grace_s, _GRACE_OVER, job)

    def _place(self, d: Place) -> None:
        job = self._pending.get(d.job_id)
        if job is None:
            raise SimulationError(f"the engine placed {d.job_id}, which is not pending")
        self.cluster.bind(d.job_id, job.request, d.placements)
        penalty = self.config.restart_penalty_s if job.first_start is not None else 0.0
        self._dequeue(job)
        job.start(self.now, d.flavor, d.placements, d.borrowing, penalty)
        self._running[d.job_id] = job
        self._engine.set(d.job_id, job.running)  # type: ignore[arg-type]
        self._allocation_changes(job.request.project_id, job.gpus)
        self.counters.placements += 1
        self._push(job.finish_time(), _FINISH, job)
        if job.request.max_runtime_s is not None:
            self._push(self.now + job.request.max_runtime_s, _WAKE, job)
        self._schedule_rechecks(job)
        self._schedule_checkpoint(job, job.first_checkpoint_at())

    def _schedule_rechecks(self, job: SimJob) -> None:
        """Instants when time alone changes what the engine may do with this running job."""
        if self.config.min_runtime_s > 0:
            self._push(self.now + self.config.min_runtime_s, _RECHECK, job)
        if job.gpus > 0:
            for threshold in self.config.las_thresholds_gpu_s:
                if threshold > job.attained_gpu_s:
                    self._push(self.now + (threshold - job.attained_gpu_s) / job.gpus, _RECHECK, job)

    # 5. Leaving the GPUs ---------------------------------------------------------------------------

    def _release(self, job: SimJob) -> None:
        assert job.running is not None
        self.cluster.release(job.job_id, job.request, job.running.placements)
        del self._running[job.job_id]
        self._engine.remove(job.job_id)
        self._terminating.discard(job.job_id)
        self._allocation_changes(job.request.project_id, -job.gpus)
        self._mark_dirty()

    def _interrupt(self, job: SimJob, preempted: bool) -> None:
        self._release(job)
        job.interrupt(self.now)
        if preempted:
            job.preemptions += 1
            self.counters.preemptions += 1
        else:
            job.requeues += 1
            self.counters.requeues += 1
        self._enqueue(job)

    def _finish(self, job: SimJob, outcome: JobOutcome) -> None:
        self._release(job)
        self._close(job, outcome)

    def _close(self, job: SimJob, outcome: JobOutcome) -> None:
        job.finish(self.now, outcome)
        self._done += 1
        if job.job_id in self._watched:
            self._outcomes[job.job_id] = outcome
        self._mark_dirty()
