"""Applying the cycle's actions in its transaction: bind placements, write pending jobs' new reasons,
fail the jobs set aside.

Set-based statements and executemany, so the round trips do not grow with the batch. What a placed
job's spec makes raise (its commands to the agents cannot be built) is found before anything is
written, and that job is set aside instead of placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import ValidationError

from services.scheduler.app.ports import ConcurrentChange
from services.scheduler.domain.engine.model import WHOLE_GPU
from services.scheduler.domain.model import Actions, Bind, BoundReplica, QueuedJob, SetAside, Verdict
from shared.db.pool import Tx
from shared.events.base import Event
from shared.events.jobs import JobSpec, JobState, milli_to_share
from shared.events.scheduler import AllocationBound, JobStateChanged, StartWorkload

PLACED_SPECS_SQL = "SELECT job_id, attempt, spec::text AS spec FROM jobs WHERE job_id = ANY($1::text[])"

# The version check makes a placement lose to a cancel that committed since the snapshot.
SCHEDULE_JOBS_SQL = """
UPDATE jobs j SET state = 'scheduled', reason = p.reason, version = j.version + 2, attempt = j.attempt + 1
FROM unnest($1::text[], $2::int[], $3::text[]) AS p(job_id, version, reason)
WHERE j.job_id = p.job_id AND j.version = p.version AND j.state = 'pending'
  AND j.cancel_requested_at IS NULL AND j.ending_state IS NULL
RETURNING j.job_id, j.attempt
"""

INSERT_ALLOCATION_SQL = """
INSERT INTO allocations (allocation_id, job_id, attempt, replica, tenant_id, project_id, node_id, gpu_model,
                         gpu_uuids, bound_at, epoch, gpu_milli)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""

# A GPU is bound whole only while free (no share of it taken either): if any was taken since the
# snapshot, the counts differ and we abort.
BIND_GPUS_SQL = """
UPDATE gpus g SET allocation_id = b.allocation_id
FROM unnest($1::text[], $2::text[]) AS b(uuid, allocation_id)
WHERE g.uuid = b.uuid AND g.allocation_id IS NULL AND g.shared_milli = 0 AND g.present
"""

# Fractional shares ($1: GPU UUIDs, $2: thousandths), summed per GPU: several replicas may share one.
_SHARES_BY_GPU = (
    "SELECT uuid, sum(milli)::int AS milli FROM unnest($1::text[], $2::int[]) AS s(uuid, milli) GROUP BY uuid"
)
# Taken only from a GPU not held whole and with that much left; else the counts differ and we abort.
SHARE_GPUS_SQL = f"""
UPDATE gpus g SET shared_milli = g.shared_milli + b.milli FROM ({_SHARES_BY_GPU}) b
WHERE g.uuid = b.uuid AND g.allocation_id IS NULL AND g.shared_milli + b.milli <= 1000 AND g.present
"""
# Given back when their allocations are released.
RETURN_SHARES_SQL = f"""
UPDATE gpus g SET shared_milli = g.shared_milli - b.milli FROM ({_SHARES_BY_GPU}) b WHERE g.uuid = b.uuid
"""

# A pending job's new state (pending with a new reason, or failed), unless it changed since the snapshot.
SET_VERDICTS_SQL = """
UPDATE jobs j SET state = v.state, reason = v.reason, version = j.version + 1
FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS v(job_id, version, state, reason)
WHERE j.job_id = v.job_id AND j.version = v.version AND j.state = 'pending'
RETURNING j.job_id
"""


def allocation_id(job_id: str, attempt: int, replica: int) -> str:
    """Deterministic, so the same placement can never be bound under two ids."""
    return f"alc-{job_id}-{attempt}-{replica}"


class PlacementWriter:
    def __init__(self, tx: Tx, epoch: int) -> None:
        self._tx = tx
        self._conn = tx.conn
        self._epoch = epoch

    async def apply(self, actions: Actions, now: datetime) -> None:
        set_aside = actions.set_aside
        if actions.binds:
            set_aside += await self._bind(actions.binds, now)
        if actions.verdicts:
            await self._set_verdicts(actions.verdicts, now)
        if set_aside:
            await self._set_aside(set_aside, now)

    async def _bind(self, binds: tuple[Bind, ...], now: datetime) -> tuple[SetAside, ...]:
        """Binds the placements; returns those set aside instead (their commands cannot be built)."""
        # 0. Only the placed jobs' specs are read: their commands and environments go to the agents.
        #    Each job's events are built first, so that one that raises is set aside, not the cycle.
        placed = {
            r["job_id"]: r
            for r in await self._conn.fetch(PLACED_SPECS_SQL, [b.job.request.job_id for b in binds])
        }
        attempts = {job_id: r["attempt"] + 1 for job_id, r in placed.items()}
        events: list[Event] = []
        set_aside: list[SetAside] = []
        kept: list[Bind] = []
        for b in binds:
            try:
                job_events = self._bound_events(b, placed[b.job.request.job_id]["spec"], attempts, now)
            except Exception as error:  # whatever the tenant's spec makes raise: that job only
                set_aside.append(SetAside.of(b.job, f"its workload cannot be started ({_described(error)})"))
                continue
            events.extend(job_events)
            kept.append(b)
        if not kept:
            return tuple(set_aside)
        binds = tuple(kept)
        # 1. Move the jobs to scheduled, refusing any that changed since the snapshot.
        rows = await self._conn.fetch(
            SCHEDULE_JOBS_SQL,
            [b.job.request.job_id for b in binds],
            [b.job.version for b in binds],
            [b.reason for b in binds],
        )
        if len(rows) != len(binds) or any(attempts[r["job_id"]] != r["attempt"] for r in rows):
            raise ConcurrentChange("a job placed by this cycle changed since its snapshot")
        # 2. One allocation per replica, and its GPUs bound only if still free.
        allocations = [
            (allocation_id(b.job.request.job_id, attempts[b.job.request.job_id], r.replica), b, r)
            for b in binds
            for r in b.replicas
        ]
        await self._conn.executemany(
            INSERT_ALLOCATION_SQL,
            [
                (alloc_id, b.job.request.job_id, attempts[b.job.request.job_id], r.replica)
                + (b.job.request.tenant_id, b.job.request.project_id, r.node_id, b.gpu_model)
                + (list(r.gpu_uuids), now, self._epoch, r.gpu_milli)
                for alloc_id, b, r in allocations
            ],
        )
        await self._take_gpus([(alloc_id, r) for alloc_id, _, r in allocations])
        # 3. Tell everyone (the events built in 0).
        await self._tx.emit_all(events)
        return tuple(set_aside)

    def _bound_events(self, b: Bind, spec_json: str, attempts: dict[str, int], now: datetime) -> list[Event]:
        """A bound job's events: admitted, then scheduled; the bound intervals; the agents' start commands."""
        request, spec = b.job.request, JobSpec.model_validate_json(spec_json)
        events: list[Event] = [
            _state_changed(b.job, JobState.ADMITTED, "", b.job.version + 1, now),
            _state_changed(b.job, JobState.SCHEDULED, b.reason, b.job.version + 2, now),
        ]
        for r in b.replicas:
            alloc_id = allocation_id(request.job_id, attempts[request.job_id], r.replica)
            events.append(
                AllocationBound(
                    occurred_at=now,
                    tenant_id=request.tenant_id,
                    project_id=request.project_id,
                    job_id=request.job_id,
                    allocation_id=alloc_id,
                    replica=r.replica,
                    node_id=r.node_id,
                    gpu_model=b.gpu_model,
                    gpu_uuids=list(r.gpu_uuids),
                    bound_at=now,
                    epoch=self._epoch,
                    gpu_share=milli_to_share(r.gpu_milli),
                )
            )
            events.append(
                StartWorkload(
                    occurred_at=now,
                    node_id=r.node_id,
                    epoch=self._epoch,
                    tenant_id=request.tenant_id,
                    project_id=request.project_id,
                    job_id=request.job_id,
                    allocation_id=alloc_id,
                    replica=r.replica,
                    kind=spec.kind,
                    command=list(spec.command),
                    env=_workload_env(request.job_id, spec, alloc_id, r.replica),
                    gpu_uuids=list(r.gpu_uuids),
                    gpu_share=milli_to_share(r.gpu_milli),
                )
            )
        return events

    async def _take_gpus(self, allocations: list[tuple[str, BoundReplica]]) -> None:
        """Bind whole GPUs and take shares of the others; a GPU no longer free enough aborts the cycle."""
        whole = [
            (uuid, alloc_id)
            for alloc_id, r in allocations
            if r.gpu_milli == WHOLE_GPU
            for uuid in r.gpu_uuids
        ]
        if whole:
            status = await self._conn.execute(BIND_GPUS_SQL, [w[0] for w in whole], [w[1] for w in whole])
            if status != f"UPDATE {len(whole)}":
                raise ConcurrentChange("a GPU placed by this cycle is no longer free")
        uuids, milli = fractional_shares((r.gpu_uuids, r.gpu_milli) for _, r in allocations)
        if uuids:
            status = await self._conn.execute(SHARE_GPUS_SQL, uuids, milli)
            if status != f"UPDATE {len(set(uuids))}":
                raise ConcurrentChange("a GPU shared by this cycle no longer has that share free")

    async def _set_verdicts(self, verdicts: tuple[Verdict, ...], now: datetime) -> None:
        rows = await self._conn.fetch(
            SET_VERDICTS_SQL,
            [v.job.request.job_id for v in verdicts],
            [v.job.version for v in verdicts],
            [v.state.value for v in verdicts],
            [v.reason for v in verdicts],
        )
        if len(rows) != len(verdicts):
            raise ConcurrentChange("a waiting job changed since its snapshot")
        await self._tx.emit_all(
            [_state_changed(v.job, v.state, v.reason, v.job.version + 1, now) for v in verdicts]
        )

    async def _set_aside(self, jobs: tuple[SetAside, ...], now: datetime) -> None:
        """Fail each job set aside, with the reason, unless it changed since the snapshot (the next cycle
        sees it again then)."""
        rows = await self._conn.fetch(
            SET_VERDICTS_SQL,
            [j.job_id for j in jobs],
            [j.version for j in jobs],
            [JobState.FAILED.value] * len(jobs),
            [j.reason for j in jobs],
        )
        failed = {r["job_id"] for r in rows}
        await self._tx.emit_all(
            [
                JobStateChanged(
                    occurred_at=now,
                    tenant_id=j.tenant_id,
                    project_id=j.project_id,
                    job_id=j.job_id,
                    state=JobState.FAILED,
                    reason=j.reason,
                    version=j.version + 1,
                )
                for j in jobs
                if j.job_id in failed
            ]
        )


def _described(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in error.errors())
    return f"{type(error).__name__}: {error}"


def fractional_shares(held: Iterable[tuple[Sequence[str], int]]) -> tuple[list[str], list[int]]:
    """From (GPU UUIDs, thousandths of each) pairs, the fractional ones as SQL arrays: UUIDs, thousandths."""
    shares = [(uuid, milli) for uuids, milli in held if milli < WHOLE_GPU for uuid in uuids]
    return [uuid for uuid, _ in shares], [milli for _, milli in shares]


def _workload_env(job_id: str, spec: JobSpec, alloc_id: str, replica: int) -> dict[str, str]:
    """The job's environment plus where this replica stands in the gang (the platform's keys win)."""
    return {
        **spec.env,
        "AIFACTORY_JOB_ID": job_id,
        "AIFACTORY_ALLOCATION_ID": alloc_id,
        "AIFACTORY_REPLICA": str(replica),
        "AIFACTORY_REPLICAS": str(spec.replicas),
        # Its share of the GPU it time-slices with others (say, to cap its memory to that fraction).
        **(
            {"AIFACTORY_GPU_SHARE": str(milli_to_share(spec.gpu_milli))} if spec.gpu_milli < WHOLE_GPU else {}
        ),
    }


def _state_changed(
    job: QueuedJob, state: JobState, reason: str, version: int, at: datetime
) -> JobStateChanged:
    return JobStateChanged(
        occurred_at=at,
        tenant_id=job.request.tenant_id,
        project_id=job.request.project_id,
        job_id=job.request.job_id,
        state=state,
        reason=reason,
        version=version,
    )
