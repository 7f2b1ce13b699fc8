"""One scheduling cycle: settle what happened, then place what fits, in one fenced transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scheduler.app.ports import CycleStore, CycleWork, QueueCursor
from services.scheduler.domain.lifecycle import settle
from services.scheduler.domain.policy import decide


@dataclass(frozen=True)
class CycleReport:
    lost_nodes: int = 0
    settled_jobs: int = 0
    placed_jobs: int = 0


class SchedulingCycle:
    def __init__(
        self, store: CycleStore, *, node_lost_after_s: float, batch_size: int = 500, max_pages: int = 10
    ) -> None:
        self._store = store
        self._node_lost_after = timedelta(seconds=node_lost_after_s)
        self._batch_size = batch_size
        self._max_pages = max_pages

    async def run(self, epoch: int, now: datetime) -> CycleReport:
        """Raises StaleEpoch when a newer leader has written, ConcurrentChange when a row moved under us."""
        async with self._store.fenced(epoch) as work:
            # 1. Recorded exits end their allocations at the exit time (the agent's clock).
            touched = await work.release_exited()
            # 2. Nodes silent too long are lost now; what ran on them ends now.
            lost = await work.declare_lost_nodes(now - self._node_lost_after, now)
            touched |= await work.release_on_nodes(lost, now)
            # 3. Jobs whose cancel waits on running replicas.
            touched |= await work.jobs_with_new_cancel_requests()
            # 4. Settle every touched job: finish, fail, requeue, or stop its replicas.
            changes = []
            for job, allocations in await work.load_jobs(touched):
                outcome = settle(job, allocations)
                if outcome.changes(job):
                    changes.append((job, outcome))
            await work.save_outcomes(changes, now)
            # 5. Workloads that run without an allocation are stopped.
            await work.stop_strays(now)
            # 6. Place the queue oldest first, page by page while free GPUs remain.
            placed = await self._place(work, now)
        return CycleReport(lost_nodes=len(lost), settled_jobs=len(changes), placed_jobs=placed)

    async def _place(self, work: CycleWork, now: datetime) -> int:
        placed = 0
        cursor: QueueCursor | None = None
        for _ in range(self._max_pages):
            snapshot = await work.load_snapshot(cursor, self._batch_size)
            if not snapshot.pending:
                break
            decisions = decide(snapshot, now)
            await work.apply(decisions, now)
            placed += len(decisions.placements)
            free_before = sum(gpu.usable for node in snapshot.nodes for gpu in node.gpus)
            taken = sum(len(r.gpu_uuids) for p in decisions.placements for r in p.replicas)
            if len(snapshot.pending) < self._batch_size or free_before - taken <= 0:
                break
            last = snapshot.pending[-1]
            cursor = (last.submitted_at, last.job_id)
        return placed
