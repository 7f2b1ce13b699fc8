"""Loading the scheduling snapshot and applying the policy's decisions, in the cycle's transaction.

Few round trips whatever the batch: the queue page in one query, the fleet in one, quotas and usage
in one each; the apply writes with set-based statements and executemany.
"""

from __future__ import annotations

from datetime import datetime

from services.scheduler.app.ports import ConcurrentChange, QueueCursor
from services.scheduler.domain.model import Blocked, Decisions, Gpu, Node, PendingJob, Placement, Snapshot
from shared.db.pool import Tx
from shared.events.base import Event
from shared.events.jobs import JobSpec, JobState
from shared.events.scheduler import AllocationBound, JobStateChanged, StartWorkload

QUEUE_COLUMNS = "job_id, tenant_id, project_id, spec::text AS spec, submitted_at, version, reason"
QUEUE_FILTER = "state = 'pending' AND cancel_requested_at IS NULL AND ending_state IS NULL"
QUEUE_HEAD_SQL = (
    f"SELECT {QUEUE_COLUMNS} FROM jobs WHERE {QUEUE_FILTER} ORDER BY submitted_at, job_id LIMIT $1"
)
QUEUE_PAGE_SQL = (
    f"SELECT {QUEUE_COLUMNS} FROM jobs WHERE {QUEUE_FILTER} AND (submitted_at, job_id) > ($2, $3)"
    " ORDER BY submitted_at, job_id LIMIT $1"
)

FLEET_SQL = """
SELECT g.node_id, g.uuid, g.model, g.healthy, g.allocation_id IS NULL AS free
FROM gpus g JOIN nodes n ON n.node_id = g.node_id
WHERE n.state = 'ready' AND g.present
ORDER BY g.node_id, g.device_index
"""

QUOTAS_AND_USAGE_SQL = """
SELECT project_id, gpu_model, q.gpus AS quota, u.gpus AS used
FROM (SELECT project_id, gpu_model, gpus FROM quotas WHERE project_id = ANY($1::text[])) q
FULL JOIN (
    SELECT project_id, gpu_model, sum(cardinality(gpu_uuids))::int AS gpus FROM allocations
    WHERE released_at IS NULL AND project_id = ANY($1::text[]) GROUP BY project_id, gpu_model
) u USING (project_id, gpu_model)
"""

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
                         gpu_uuids, bound_at, epoch)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""

# A GPU is bound only while free: if any was taken since the snapshot, the counts differ and we abort.
BIND_GPUS_SQL = """
UPDATE gpus g SET allocation_id = b.allocation_id
FROM unnest($1::text[], $2::text[]) AS b(uuid, allocation_id)
WHERE g.uuid = b.uuid AND g.allocation_id IS NULL AND g.present
"""

SET_REASONS_SQL = """
UPDATE jobs j SET reason = b.reason, version = j.version + 1
FROM unnest($1::text[], $2::int[], $3::text[]) AS b(job_id, version, reason)
WHERE j.job_id = b.job_id AND j.version = b.version AND j.state = 'pending'
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

    async def load_snapshot(self, after: QueueCursor | None, limit: int) -> Snapshot:
        if after is None:
            rows = await self._conn.fetch(QUEUE_HEAD_SQL, limit)
        else:
            rows = await self._conn.fetch(QUEUE_PAGE_SQL, limit, after[0], after[1])
        if not rows:
            return Snapshot(pending=(), nodes=(), quotas={}, usage={})
        pending = tuple(
            PendingJob(
                job_id=r["job_id"],
                tenant_id=r["tenant_id"],
                project_id=r["project_id"],
                spec=JobSpec.model_validate_json(r["spec"]),
                submitted_at=r["submitted_at"],
                version=r["version"],
                reason=r["reason"],
            )
            for r in rows
        )
        projects = sorted({job.project_id for job in pending})
        limits = await self._conn.fetch(QUOTAS_AND_USAGE_SQL, projects)
        return Snapshot(
            pending=pending,
            nodes=await self._load_fleet(),
            quotas={(r["project_id"], r["gpu_model"]): r["quota"] for r in limits if r["quota"] is not None},
            usage={(r["project_id"], r["gpu_model"]): r["used"] for r in limits if r["used"] is not None},
        )

    async def _load_fleet(self) -> tuple[Node, ...]:
        gpus_by_node: dict[str, list[Gpu]] = {}
        for r in await self._conn.fetch(FLEET_SQL):
            gpus_by_node.setdefault(r["node_id"], []).append(
                Gpu(r["uuid"], r["model"], r["free"], r["healthy"])
            )
        return tuple(Node(node_id, tuple(gpus)) for node_id, gpus in gpus_by_node.items())

    async def apply(self, decisions: Decisions, now: datetime) -> None:
        if decisions.placements:
            await self._bind(decisions.placements, now)
        changed = [b for b in decisions.blocked if b.reason_changed]
        if changed:
            await self._set_reasons(changed, now)

    async def _bind(self, placements: tuple[Placement, ...], now: datetime) -> None:
        # 1. Move the jobs to scheduled, refusing any that changed since the snapshot.
        rows = await self._conn.fetch(
            SCHEDULE_JOBS_SQL,
            [p.job.job_id for p in placements],
            [p.job.version for p in placements],
            [_placed_reason(p) for p in placements],
        )
        if len(rows) != len(placements):
            raise ConcurrentChange("a job placed by this cycle changed since its snapshot")
        attempts = {r["job_id"]: r["attempt"] for r in rows}
        # 2. One allocation per replica, and its GPUs bound only if still free.
        allocations = [
            (allocation_id(p.job.job_id, attempts[p.job.job_id], r.replica), p, r)
            for p in placements
            for r in p.replicas
        ]
        await self._conn.executemany(
            INSERT_ALLOCATION_SQL,
            [
                (alloc_id, p.job.job_id, attempts[p.job.job_id], r.replica, p.job.tenant_id, p.job.project_id)
                + (r.node_id, p.gpu_model, list(r.gpu_uuids), now, self._epoch)
                for alloc_id, p, r in allocations
            ],
        )
        bindings = [(uuid, alloc_id) for alloc_id, _, r in allocations for uuid in r.gpu_uuids]
        status = await self._conn.execute(BIND_GPUS_SQL, [b[0] for b in bindings], [b[1] for b in bindings])
        if status != f"UPDATE {len(bindings)}":
            raise ConcurrentChange("a GPU placed by this cycle is no longer free")
        # 3. Tell everyone: admitted, then scheduled; the bound intervals; the agents' start commands.
        events: list[Event] = []
        for p in placements:
            events.append(_state_changed(p.job, JobState.ADMITTED, "", p.job.version + 1, now))
            events.append(
                _state_changed(p.job, JobState.SCHEDULED, _placed_reason(p), p.job.version + 2, now)
            )
        for alloc_id, p, r in allocations:
            events.append(
                AllocationBound(
                    occurred_at=now,
                    tenant_id=p.job.tenant_id,
                    project_id=p.job.project_id,
                    job_id=p.job.job_id,
                    allocation_id=alloc_id,
                    replica=r.replica,
                    node_id=r.node_id,
                    gpu_model=p.gpu_model,
                    gpu_uuids=list(r.gpu_uuids),
                    bound_at=now,
                    epoch=self._epoch,
                )
            )
            events.append(
                StartWorkload(
                    occurred_at=now,
                    node_id=r.node_id,
                    epoch=self._epoch,
                    tenant_id=p.job.tenant_id,
                    project_id=p.job.project_id,
                    job_id=p.job.job_id,
                    allocation_id=alloc_id,
                    replica=r.replica,
                    kind=p.job.spec.kind,
                    command=list(p.job.spec.command),
                    env=_workload_env(p, alloc_id, r.replica),
                    gpu_uuids=list(r.gpu_uuids),
                )
            )
        await self._tx.emit_all(events)

    async def _set_reasons(self, blocked: list[Blocked], now: datetime) -> None:
        rows = await self._conn.fetch(
            SET_REASONS_SQL,
            [b.job.job_id for b in blocked],
            [b.job.version for b in blocked],
            [b.reason for b in blocked],
        )
        if len(rows) != len(blocked):
            raise ConcurrentChange("a waiting job changed since its snapshot")
        await self._tx.emit_all(
            [_state_changed(b.job, JobState.PENDING, b.reason, b.job.version + 1, now) for b in blocked]
        )


def _placed_reason(placement: Placement) -> str:
    nodes = sorted({r.node_id for r in placement.replicas})
    where = f"node {nodes[0]}" if len(nodes) == 1 else f"nodes {', '.join(nodes)}"
    return f"placed on {where} ({placement.gpu_model})"


def _workload_env(placement: Placement, alloc_id: str, replica: int) -> dict[str, str]:
    """The job's environment plus where this replica stands in the gang (the platform's keys win)."""
    return {
        **placement.job.spec.env,
        "AIFACTORY_JOB_ID": placement.job.job_id,
        "AIFACTORY_ALLOCATION_ID": alloc_id,
        "AIFACTORY_REPLICA": str(replica),
        "AIFACTORY_REPLICAS": str(placement.job.spec.replicas),
    }


def _state_changed(
    job: PendingJob, state: JobState, reason: str, version: int, at: datetime
) -> JobStateChanged:
    return JobStateChanged(
        occurred_at=at,
        tenant_id=job.tenant_id,
        project_id=job.project_id,
        job_id=job.job_id,
        state=state,
        reason=reason,
        version=version,
    )
