"""What runs, as one cycle sees it: jobs to stop, jobs to requeue, when GPUs of departing jobs come back.

Every cycle looks at every running job, so what it asks of all of them (is a node gone, who passed its
maximum runtime, what each queue holds) comes from the RunningIndex kept between cycles, with a
job-by-job loop only for the few jobs that need one.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.scheduler.domain.engine.admission import budget_gate
from services.scheduler.domain.engine.model import Decision, Node, Preempt, RunningJob, Snapshot, Stop
from services.scheduler.domain.engine.policy import PoolPolicy
from services.scheduler.domain.engine.quota import QuotaLedger
from services.scheduler.domain.engine.running_index import RunningIndex
from services.scheduler.domain.engine.workspace import Holding


class RunningScan:
    def __init__(self, snapshot: Snapshot, index: RunningIndex) -> None:
        """`index` must index exactly the snapshot's running jobs (see decide)."""
        self._snapshot = snapshot
        self.running = snapshot.running
        self.index = index
        self.ids = self.index.job_counts.keys()  # the job ids that run
        self.leaving: dict[str, float] = {}  # job id -> when the GPUs of a job already going come back
        self.lost: set[str] = set()  # jobs on nodes that vanished
        self.in_grace = False  # whether some running job is in its preemption grace period

    def scan(
        self, policy: PoolPolicy, known_nodes: Mapping[str, Node], ledger: QuotaLedger, out: list[Decision]
    ) -> None:
        """Stop what must stop, requeue what ran on vanished nodes, count quota usage."""
        snapshot, now = self._snapshot, self._snapshot.now
        running, terminating = snapshot.running, snapshot.terminating
        leaving, lost_jobs = self.leaving, self.lost
        # 1. Jobs on nodes that vanished go back to their queue.
        if not self.index.nodes_within(known_nodes):
            for job in running:
                lost = next((p.node_id for p in job.placements if p.node_id not in known_nodes), None)
                if lost is not None:
                    lost_jobs.add(job.request.job_id)
                    if job.request.job_id not in terminating:
                        out.append(Preempt(job.request.job_id, f"node {lost} was lost", grace_s=0.0))
        # 2. Jobs in their grace period come back soon; jobs past their maximum runtime stop now.
        for job_id in terminating:
            if job_id in self.ids and job_id not in lost_jobs:
                leaving[job_id] = now + policy.preemption_grace_s
                self.in_grace = True
        for job in self.index.overdue(now):
            job_id = job.request.job_id
            if job_id not in leaving and job_id not in lost_jobs:
                out.append(Stop(job_id, f"maximum runtime of {job.request.max_runtime_s:g} s exceeded"))
                leaving[job_id] = now
        # 3. Work of an exhausted budget stops, where the pool says so.
        if policy.stop_on_budget_exhausted and snapshot.budget_exhausted:
            for job in running:
                job_id = job.request.job_id
                hold = budget_gate(job.request, snapshot.budget_exhausted)
                if hold is not None and job_id not in leaving and job_id not in lost_jobs:
                    out.append(Stop(job_id, hold.reason))
                    leaving[job_id] = now
        # 4. Quota usage, for queues that have quotas.
        if ledger.any_limits():
            for (_, queue, flavor), (gpu_milli, cpu_milli, memory_mib, _) in self.index.usage.items():
                ledger.add_usage(queue, flavor, gpu_milli, cpu_milli, memory_mib)
            for job in running if lost_jobs else ():
                if job.request.job_id in lost_jobs:
                    ledger.add(job.request, job.flavor, sign=-1)

    def holdings(self) -> list[Holding]:
        """The holdings of what runs (for the workspace, when preemption or a reservation asks).
        Made in one comprehension, positionally (thousands a cycle): request, flavor, placements,
        end_at, running, departing, counted (all of the placements until the workspace says not)."""
        made = [
            Holding(
                job.request,
                job.flavor,
                job.placements,
                None if job.request.max_runtime_s is None else job.started_at + job.request.max_runtime_s,
                job,
                False,
                job.placements,
            )
            for job in self._snapshot.running
        ]
        if not (self.leaving or self.lost):
            return made
        leaving, lost = self.leaving, self.lost
        kept = []
        for holding in made:
            job_id = holding.request.job_id
            if job_id in lost:
                continue
            end_at = leaving.get(job_id)
            if end_at is not None:
                holding.end_at, holding.departing = end_at, True
            kept.append(holding)
        return kept

    def running_on(self, node_id: str) -> list[RunningJob]:
        """The running jobs with a replica on the node (but those of vanished nodes)."""
        jobs = self.index.jobs_on(node_id)
        lost = self.lost
        return [job for job in jobs if job.request.job_id not in lost] if lost else jobs
