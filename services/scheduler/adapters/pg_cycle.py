"""PostgreSQL implementation of the cycle's fenced transaction: releases, job settlement, stops; the
state the policy engine decides on is read by pg_state, its placements and reasons written by
pg_placement, in the same transaction.

Lock order is allocations, then jobs; the consumers follow it too, so the leader and the consumers do
not wait on each other in a circle. Should PostgreSQL still find a deadlock (a node re-registering
while the cycle binds its GPUs), the losing transaction is retried: redelivery, or the next cycle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg

from pricing.periods import period_of
from services.scheduler.adapters.pg_budgets import budgeted_jobs_to_stop, exhausted_scopes
from services.scheduler.adapters.pg_facts import BUMP_FLEET_REVISION_SQL
from services.scheduler.adapters.pg_placement import RETURN_SHARES_SQL, PlacementWriter, fractional_shares
from services.scheduler.adapters.pg_state import KnownFleet, StateReader
from services.scheduler.app.ports import StaleEpoch
from services.scheduler.domain.budget_stops import budget_stops
from services.scheduler.domain.engine.model import JobRequest, Stop
from services.scheduler.domain.lifecycle import AllocationView, JobOutcome, JobView, ReleaseCause
from services.scheduler.domain.model import Actions, LiveState, UsageHistory, UsedGpus
from services.scheduler.domain.pools import PoolPolicies
from shared.db.pool import Database, Tx
from shared.events.base import Event
from shared.events.jobs import JobState, RestartPolicy, milli_to_share
from shared.events.scheduler import AllocationReleased, JobStateChanged, NodeStateChanged, StopWorkload

DEFAULT_STOP_GRACE_S: float = StopWorkload.model_fields["grace_s"].default

TERMINAL = tuple(s.value for s in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED))

RELEASED_COLUMNS = (
    "allocation_id, job_id, tenant_id, project_id, node_id, gpu_model, gpu_uuids, bound_at, released_at,"
    " release_cause, exit_code, stop_reason, gpu_milli"
)

NEVER_RAN = [cause.value for cause in ReleaseCause if cause.never_ran]

# Released at the exit time (the agent's clock) within [bound, now] on the scheduler's: not before its
# bind, should the agent's clock lag; not after the cycle's now, should it lead, or the GPUs this cycle
# frees and binds again at now would be billed twice for the difference. One that never ran is released
# at its bind: nothing is billed for it.
RELEASE_EXITED_SQL = f"""
UPDATE allocations SET released_epoch = $1, release_cause = exit_cause,
       released_at = CASE WHEN exit_cause = ANY($2::text[]) THEN bound_at
                          ELSE GREATEST(LEAST(exited_at, $3::timestamptz), bound_at) END
WHERE exited_at IS NOT NULL AND released_at IS NULL
RETURNING {RELEASED_COLUMNS}
"""

# $1: the start timeout; $2: now. Only where the node was heard from the whole timeout after the bind:
# a silent node's allocations are its loss's to release.
TIME_OUT_STARTS_SQL = f"""
UPDATE allocations a SET exited_at = $2::timestamptz, exit_cause = '{ReleaseCause.START_TIMEOUT.value}'
FROM nodes n
WHERE n.node_id = a.node_id AND a.released_at IS NULL AND a.started_at IS NULL AND a.exited_at IS NULL
  AND a.bound_at <= $2::timestamptz - $1::interval AND n.last_seen >= a.bound_at + $1::interval
"""

RELEASE_ON_NODES_SQL = f"""
UPDATE allocations SET released_at = GREATEST($2, bound_at), release_cause = '{ReleaseCause.NODE_LOST.value}',
       released_epoch = $3
WHERE node_id = ANY($1::text[]) AND released_at IS NULL
RETURNING {RELEASED_COLUMNS}
"""

CANCEL_REQUESTS_SQL = f"""
SELECT job_id FROM jobs
WHERE cancel_requested_at IS NOT NULL AND ending_state IS NULL AND state NOT IN {TERMINAL!r}
"""

LOAD_JOBS_SQL = """
SELECT job_id, tenant_id, project_id, restart_policy, replicas, state, reason, version, attempt,
       cancel_requested_at IS NOT NULL AS cancel_requested, ending_state, ending_reason, preemption
FROM jobs WHERE job_id = ANY($1::text[]) ORDER BY job_id FOR UPDATE
"""

LOAD_ALLOCATIONS_SQL = """
SELECT allocation_id, job_id, node_id, replica, attempt, released_at IS NOT NULL AS released,
       stop_requested_at IS NOT NULL AS stop_requested, release_cause, exit_code
FROM allocations WHERE job_id = ANY($1::text[]) ORDER BY allocation_id FOR UPDATE
"""

SAVE_JOB_SQL = """
UPDATE jobs SET state = $2, reason = $3, version = $4, ending_state = $5, ending_reason = $6, preemption = $7
WHERE job_id = $1
"""


# The fence (a leader whose epoch is older than the last writer's writes nothing), and in the same
# round trip whether there is anything to settle, so that an idle cycle skips those statements, and
# the fleet's revision, so that it is reloaded only when it changed.
FENCE_AND_PROBE_SQL = f"""
WITH fence AS (UPDATE leader_fence SET epoch = $1 WHERE epoch <= $1 RETURNING epoch)
SELECT EXISTS (SELECT 1 FROM fence) AS fenced,
       EXISTS (SELECT 1 FROM allocations WHERE exited_at IS NOT NULL AND released_at IS NULL) AS exits,
       EXISTS ({CANCEL_REQUESTS_SQL}) AS cancels,
       EXISTS (SELECT 1 FROM stray_workloads) AS strays,
       (SELECT revision FROM fleet_revision) AS fleet_revision
"""


class PgCycleStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # The fleet as a committed cycle loaded it: later cycles reuse it while its revision holds.
        self._fleet: KnownFleet | None = None
        # What each waiting or running job asks for (it never changes): read once per job.
        self._requests: dict[str, JobRequest] = {}

    @asynccontextmanager
    async def fenced(self, epoch: int) -> AsyncIterator[PgCycleWork]:
        async with self._db.transaction() as tx:
            probe = await tx.conn.fetchrow(FENCE_AND_PROBE_SQL, epoch)
            assert probe is not None
            if not probe["fenced"]:
                raise StaleEpoch(f"epoch {epoch} is older than the last leader's")
            work = PgCycleWork(
                tx,
                epoch,
                exits=probe["exits"],
                cancels=probe["cancels"],
                strays=probe["strays"],
                fleet_revision=probe["fleet_revision"],
                known_fleet=self._fleet,
                requests=self._requests,
            )
            yield work
        # Committed: what it read of the fleet is true at its revision (a rolled-back cycle may have
        # read its own uncommitted changes, so only a committed one's is kept).
        self._fleet = work.fleet


class PgCycleWork:
    def __init__(
        self,
        tx: Tx,
        epoch: int,
        *,
        exits: bool = True,
        cancels: bool = True,
        strays: bool = True,
        fleet_revision: int | None = None,
        known_fleet: KnownFleet | None = None,
        requests: dict[str, JobRequest] | None = None,
    ) -> None:
        self._tx = tx
        self._conn = tx.conn
        self._epoch = epoch
        # What the probe found waiting; skipped statements would have found nothing.
        self._has_exits, self._has_cancels, self._has_strays = exits, cancels, strays
        # The fleet's revision (None once this transaction changed the fleet), and the fleet at it:
        # from an earlier cycle if it read the same revision, else read when first needed.
        self._fleet_revision = fleet_revision
        self.fleet = known_fleet if known_fleet and known_fleet.revision == fleet_revision else None
        self._state = StateReader(tx.conn, {} if requests is None else requests)
        self._placement = PlacementWriter(tx, epoch)
        # tenant, project and version of each loaded job, for the events save_outcomes emits.
        self._stamps: dict[str, tuple[str, str, int]] = {}

    async def declare_lost_nodes(self, silent_since: datetime, now: datetime) -> list[str]:
        rows = await self._conn.fetch(
            "UPDATE nodes SET state = 'lost', lost_at = $2 WHERE state = 'ready' AND last_seen < $1"
            " RETURNING node_id",
            silent_since,
            now,
        )
        lost = sorted(r["node_id"] for r in rows)
        if not lost:
            return []
        await self._conn.execute(BUMP_FLEET_REVISION_SQL)
        self._fleet_revision, self.fleet = None, None  # changed by this transaction: read it again
        gpus = await self._conn.fetch(
            "SELECT node_id, model FROM gpus WHERE node_id = ANY($1::text[]) AND present", lost
        )
        models: dict[str, list[str]] = {node_id: [] for node_id in lost}
        for gpu in gpus:
            models[gpu["node_id"]].append(gpu["model"])
        await self._tx.emit_all(
            [
                NodeStateChanged(
                    occurred_at=now,
                    node_id=node_id,
                    state="lost",
                    gpu_model=",".join(sorted(set(node_models))),
                    gpu_count=len(node_models),
                )
                for node_id, node_models in models.items()
            ]
        )
        return lost

    async def release_on_nodes(self, node_ids: Sequence[str], at: datetime) -> set[str]:
        if not node_ids:
            return set()
        return await self._released(
            await self._conn.fetch(RELEASE_ON_NODES_SQL, list(node_ids), at, self._epoch)
        )

    async def time_out_starts(self, timeout: timedelta, now: datetime) -> int:
        status = await self._conn.execute(TIME_OUT_STARTS_SQL, timeout, now)
        count = int(status.split()[-1])
        self._has_exits = self._has_exits or count > 0
        return count

    async def release_exited(self, now: datetime) -> set[str]:
        if not self._has_exits:
            return set()
        return await self._released(await self._conn.fetch(RELEASE_EXITED_SQL, self._epoch, NEVER_RAN, now))

    async def _released(self, rows: list[asyncpg.Record]) -> set[str]:
        """Free the GPUs of just-released allocations and emit their AllocationReleased."""
        if not rows:
            return set()
        await self._conn.execute(
            "UPDATE gpus SET allocation_id = NULL WHERE allocation_id = ANY($1::text[])",
            [r["allocation_id"] for r in rows],
        )
        uuids, milli = fractional_shares((r["gpu_uuids"], r["gpu_milli"]) for r in rows)
        if uuids:
            await self._conn.execute(RETURN_SHARES_SQL, uuids, milli)
        await self._tx.emit_all(
            [
                AllocationReleased(
                    occurred_at=r["released_at"],
                    tenant_id=r["tenant_id"],
                    project_id=r["project_id"],
                    job_id=r["job_id"],
                    allocation_id=r["allocation_id"],
                    node_id=r["node_id"],
                    gpu_model=r["gpu_model"],
                    gpu_count=len(r["gpu_uuids"]),
                    bound_at=r["bound_at"],
                    released_at=r["released_at"],
                    reason=_release_reason(r),
                    epoch=self._epoch,
                    gpu_share=milli_to_share(r["gpu_milli"]),
                )
                for r in rows
            ]
        )
        return {r["job_id"] for r in rows}

    async def jobs_with_new_cancel_requests(self) -> set[str]:
        if not self._has_cancels:
            return set()
        return {r["job_id"] for r in await self._conn.fetch(CANCEL_REQUESTS_SQL)}

    async def load_jobs(self, job_ids: set[str]) -> list[tuple[JobView, list[AllocationView]]]:
        if not job_ids:
            return []
        ids = sorted(job_ids)
        # Allocations first, then jobs: the lock order the consumers follow too.
        allocations = await self._conn.fetch(LOAD_ALLOCATIONS_SQL, ids)
        jobs = await self._conn.fetch(LOAD_JOBS_SQL, ids)
        by_job: dict[str, list[AllocationView]] = {r["job_id"]: [] for r in jobs}
        for a in allocations:
            by_job[a["job_id"]].append(
                AllocationView(
                    allocation_id=a["allocation_id"],
                    node_id=a["node_id"],
                    replica=a["replica"],
                    attempt=a["attempt"],
                    released=a["released"],
                    stop_requested=a["stop_requested"],
                    cause=ReleaseCause(a["release_cause"]) if a["release_cause"] else None,
                    exit_code=a["exit_code"],
                )
            )
        loaded = []
        for j in jobs:
            self._stamps[j["job_id"]] = (j["tenant_id"], j["project_id"], j["version"])
            view = JobView(
                job_id=j["job_id"],
                restart_policy=RestartPolicy(j["restart_policy"]),
                replicas=j["replicas"],
                state=JobState(j["state"]),
                reason=j["reason"],
                attempt=j["attempt"],
                cancel_requested=j["cancel_requested"],
                ending_state=JobState(j["ending_state"]) if j["ending_state"] else None,
                ending_reason=j["ending_reason"],
                preemption=j["preemption"],
            )
            loaded.append((view, by_job[j["job_id"]]))
        return loaded

    async def save_outcomes(self, outcomes: Sequence[tuple[JobView, JobOutcome]], now: datetime) -> None:
        rows: list[tuple[str, str, str, int, str | None, str | None, str | None]] = []
        events: list[Event] = []
        stops: list[tuple[str, AllocationView, JobOutcome]] = []
        for job, outcome in outcomes:
            tenant_id, project_id, version = self._stamps[job.job_id]
            if (outcome.state, outcome.reason) != (job.state, job.reason):
                version += 1
                events.append(
                    JobStateChanged(
                        occurred_at=now,
                        tenant_id=tenant_id,
                        project_id=project_id,
                        job_id=job.job_id,
                        state=outcome.state,
                        reason=outcome.reason,
                        version=version,
                    )
                )
            ending = outcome.ending_state.value if outcome.ending_state else None
            rows.append(
                (job.job_id, outcome.state.value, outcome.reason, version, ending, outcome.ending_reason)
                + (outcome.preemption,)
            )
            stops.extend((job.job_id, a, outcome) for a in outcome.stop)
        if rows:
            await self._conn.executemany(SAVE_JOB_SQL, rows)
        if stops:
            await self._conn.executemany(
                "UPDATE allocations SET stop_requested_at = $2, stop_reason = $3 WHERE allocation_id = $1",
                [(a.allocation_id, now, outcome.stop_reason) for _, a, outcome in stops],
            )
        events.extend(
            StopWorkload(
                occurred_at=now,
                tenant_id=self._stamps[job_id][0],
                node_id=a.node_id,
                epoch=self._epoch,
                job_id=job_id,
                allocation_id=a.allocation_id,
                reason=outcome.stop_reason,
                grace_s=DEFAULT_STOP_GRACE_S if outcome.stop_grace_s is None else outcome.stop_grace_s,
            )
            for job_id, a, outcome in stops
        )
        await self._tx.emit_all(events)

    async def stop_strays(self, now: datetime) -> int:
        if not self._has_strays:
            return 0
        rows = await self._conn.fetch("DELETE FROM stray_workloads RETURNING allocation_id, node_id, job_id")
        await self._tx.emit_all(
            [
                StopWorkload(
                    occurred_at=now,
                    node_id=r["node_id"],
                    epoch=self._epoch,
                    job_id=r["job_id"],
                    allocation_id=r["allocation_id"],
                    reason="the scheduler holds no allocation for this workload",
                )
                for r in rows
            ]
        )
        return len(rows)

    async def needs_decisions(self) -> bool:
        return await self._state.needs_decisions()

    async def load_state(self, now: float, max_pending: int, policies: PoolPolicies) -> LiveState:
        if self.fleet is None:
            self.fleet = KnownFleet(self._fleet_revision, await self._state.load_fleet())
        state = await self._state.load_state(now, max_pending, self.fleet.nodes, policies)
        exhausted = await exhausted_scopes(self._conn, period_of(datetime.fromtimestamp(now, UTC)))
        return replace(state, budget_exhausted=exhausted) if exhausted else state

    async def load_budget_stops(self, now: datetime) -> tuple[Stop, ...]:
        return budget_stops(await budgeted_jobs_to_stop(self._conn, period_of(now)))

    async def load_used_gpus(self) -> UsedGpus:
        return await self._state.load_used_gpus()

    async def load_usage_history(self) -> UsageHistory:
        return await self._state.load_usage_history()

    async def save_usage_history(self, history: UsageHistory) -> None:
        await self._state.save_usage_history(history)

    async def apply(self, actions: Actions, now: datetime) -> None:
        await self._placement.apply(actions, now)


def _release_reason(row: asyncpg.Record) -> str:
    cause = ReleaseCause(row["release_cause"])
    if cause is ReleaseCause.EXITED:
        return f"exited with code {row['exit_code']}"
    if cause is ReleaseCause.STOPPED:
        return f"stopped: {row['stop_reason']}" if row["stop_reason"] else "stopped"
    if cause is ReleaseCause.MISSING:
        return "not running when its node re-registered"
    if cause is ReleaseCause.REFUSED:
        return "its start was refused by its node"
    if cause is ReleaseCause.START_TIMEOUT:
        return "no start reported within the start timeout"
    return "node lost"
