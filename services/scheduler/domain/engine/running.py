"""What runs, as one cycle sees it: jobs to stop, jobs to requeue, when GPUs of departing jobs come back.

Every cycle looks at every running job, so the scan is done in comprehensions, with a job-by-job loop
only for the few jobs that need one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from services.scheduler.domain.engine.admission import budget_gate
from services.scheduler.domain.engine.model import Decision, Node, Preempt, Snapshot, Stop
from services.scheduler.domain.engine.policy import PoolPolicy
from services.scheduler.domain.engine.quota import QuotaLedger
from services.scheduler.domain.engine.workspace import Holding


class RunningScan:
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self.running = snapshot.running
        self.ids = {job.request.job_id for job in snapshot.running}
        self.leaving: dict[str, float] = {}  # job id -> when the GPUs of a job already going come back
        self.lost: set[str] = set()  # jobs on nodes that vanished

    def scan(
        self, policy: PoolPolicy, known_nodes: Mapping[str, Node], ledger: QuotaLedger, out: list[Decision]
    ) -> None:
        """Stop what must stop, requeue what ran on vanished nodes, count quota usage."""
        snapshot, now = self._snapshot, self._snapshot.now
        running, terminating = snapshot.running, snapshot.terminating
        leaving, lost_jobs = self.leaving, self.lost
        # 1. Jobs on nodes that vanished go back to their queue.
        if not {p.node_id for job in running for p in job.placements} <= known_nodes.keys():
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
        overdue = [
            job
            for job in running
            if job.request.max_runtime_s is not None and now >= job.started_at + job.request.max_runtime_s
        ]
        for job in overdue:
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
            for job in running:
                if job.request.job_id not in lost_jobs and not ledger.unlimited(job.request.project_id):
                    ledger.add(job.request, job.flavor)

    def holdings(self) -> Iterator[Holding]:
        """The holdings of what runs (for the workspace, when preemption or a reservation asks)."""
        leaving, lost = self.leaving, self.lost
        for job in self._snapshot.running:
            request = job.request
            job_id = request.job_id
            if job_id in lost:
                continue
            end_at = leaving.get(job_id)
            if end_at is not None:
                yield Holding(request, job.flavor, job.placements, end_at, running=job, departing=True)
            else:
                limit = request.max_runtime_s
                end_at = None if limit is None else job.started_at + limit
                yield Holding(request, job.flavor, job.placements, end_at, running=job)
