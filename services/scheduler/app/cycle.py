"""One scheduling cycle in one fenced transaction: settle what happened, then decide and act.

Deciding follows "decide, then act" (docs/architecture.md): load the live state, turn each pool's part
of it into the policy engine's immutable snapshot, let the engine decide (a pure function of the
snapshot and the pool's policy; see domain/pools.py), then apply its decisions: stops and preemptions, placements, and pending
jobs' reasons, with their events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scheduler.app.ports import CycleStore, CycleWork
from services.scheduler.domain.budget_stops import with_stops
from services.scheduler.domain.lifecycle import JobOutcome, JobView, preempt, settle, stop_and_fail
from services.scheduler.domain.model import Actions, UsageHistory
from services.scheduler.domain.pools import PoolDecider, PoolPolicies
from services.scheduler.domain.snapshot import advance_history

# The fair-share history is decayed and saved at most this often (it is exact for any split of time).
HISTORY_STEP_S = 1.0
# Starts overdue are looked for at most this often (a statement saved in most cycles).
START_TIMEOUT_STEP = timedelta(seconds=1.0)


@dataclass(frozen=True)
class CycleReport:
    lost_nodes: int = 0
    settled_jobs: int = 0
    placed_jobs: int = 0
    preempted_jobs: int = 0
    stopped_jobs: int = 0


class SchedulingCycle:
    def __init__(
        self,
        store: CycleStore,
        policies: PoolPolicies,
        *,
        node_lost_after_s: float,
        max_pending: int = 5000,
        start_timeout_s: float = 120.0,
    ) -> None:
        self._store = store
        self._pools = PoolDecider(policies)
        self._node_lost_after = timedelta(seconds=node_lost_after_s)
        self._max_pending = max_pending
        self._start_timeout = timedelta(seconds=start_timeout_s)
        # (epoch, its first cycle's time): when this instance started leading under that epoch.
        self._leading_since: tuple[int, datetime] | None = None
        self._starts_checked_at: datetime | None = None

    async def run(self, epoch: int, now: datetime) -> CycleReport:
        """Raises StaleEpoch when a newer leader has written, ConcurrentChange when a row moved under us."""
        async with self._store.fenced(epoch) as work:
            # 1. Starts not reported in time count as exits that never ran (a command refused as stale,
            #    say, by an agent too old to report it); then recorded exits end their allocations at
            #    the exit time (the agent's clock, kept within bind and now), at the bind for those that
            #    never ran.
            if self._checks_starts(epoch, now):
                await work.time_out_starts(self._start_timeout, now)
            touched = await work.release_exited(now)
            # 2. Nodes silent too long are lost now; what ran on them ends now.
            lost = (
                await work.declare_lost_nodes(now - self._node_lost_after, now)
                if self._judges_silence(epoch, now)
                else []
            )
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
            # 6. The policy engine decides on a snapshot of what is left, if anything waits or must end
            #    in time; its decisions are applied: stops and preemptions, placements, reasons.
            history = await self._fair_share_history(work, now.timestamp())
            actions = await self._decide(work, now, history) if await work.needs_decisions() else Actions()
            # 7. Running work of budgets exhausted with the policy to stop it stops, whether or not
            #    anything was decided.
            actions = with_stops(actions, await work.load_budget_stops(now))
            await self._stop(work, actions, now)
            await work.apply(actions, now)
        return CycleReport(
            lost_nodes=len(lost),
            settled_jobs=len(changes),
            placed_jobs=len(actions.binds),
            preempted_jobs=len(actions.preemptions),
            stopped_jobs=len(actions.stops),
        )

    def _judges_silence(self, epoch: int, now: datetime) -> bool:
        """A new leader gives every node one node_lost_after_s before it declares any lost: heartbeats
        and registrations sent while no scheduler consumed them still wait in its consumers' backlog,
        so the last_seen it reads at first may be long out of date."""
        return self._led_for(epoch, now) >= self._node_lost_after

    def _checks_starts(self, epoch: int, now: datetime) -> bool:
        """Like silence, after a whole timeout of leading (starts reported meanwhile may still wait in
        the consumers' backlog), and at most every START_TIMEOUT_STEP."""
        if self._led_for(epoch, now) < self._start_timeout:
            return False
        if self._starts_checked_at is not None and now - self._starts_checked_at < START_TIMEOUT_STEP:
            return False
        self._starts_checked_at = now
        return True

    def _led_for(self, epoch: int, now: datetime) -> timedelta:
        """How long this instance has led under `epoch` (its first cycle under it counts as the start)."""
        if self._leading_since is None or self._leading_since[0] != epoch:
            self._leading_since = (epoch, now)
        return now - self._leading_since[1]

    async def _decide(self, work: CycleWork, now: datetime, history: UsageHistory) -> Actions:
        state = await work.load_state(now.timestamp(), self._max_pending, self._pools.policies)
        return self._pools.decide(state, history)

    async def _fair_share_history(self, work: CycleWork, now: float) -> UsageHistory:
        """One history for every pool (fair shares are fleet-wide), at the default policy's half-life."""
        history = await work.load_usage_history()
        if history.decayed_at is None or now - history.decayed_at >= HISTORY_STEP_S:
            used = await work.load_used_gpus()
            half_life_s = self._pools.policies.default.fair_share_half_life_s
            history = advance_history(history, used, now, half_life_s)
            await work.save_usage_history(history)
        return history

    async def _stop(self, work: CycleWork, actions: Actions, now: datetime) -> None:
        """Preempted jobs stop within their grace and go back to their queue; stopped jobs (maximum
        runtime) stop and fail. Both once the agents confirm the stops (see lifecycle)."""
        preemptions = {p.job_id: p for p in actions.preemptions}
        stops = {s.job_id: s for s in actions.stops}
        if not preemptions and not stops:
            return
        outcomes: list[tuple[JobView, JobOutcome]] = []
        for job, allocations in await work.load_jobs(preemptions.keys() | stops.keys()):
            preemption = preemptions.get(job.job_id)
            if preemption is not None:
                outcome = preempt(job, allocations, preemption.reason, preemption.grace_s)
            else:
                outcome = stop_and_fail(job, allocations, stops[job.job_id].reason)
            if outcome is not None:
                outcomes.append((job, outcome))
        await work.save_outcomes(outcomes, now)
