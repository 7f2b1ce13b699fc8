"""PostgreSQL implementation of FactStore: one consumer transaction's reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.scheduler.app.ports import CancelTarget, JobStamp
from services.scheduler.domain.lifecycle import ReleaseCause
from services.scheduler.domain.reconcile import HeldAllocation, ReportedWorkload
from shared.db.pool import Tx
from shared.events.agent import NodeRegistered
from shared.events.base import Event
from shared.events.gateway import JobSubmitted, QuotaSet
from shared.events.priority_classes import PriorityClasses

WAKE_CHANNEL = "scheduler_wake"

# In every transaction that changes the fleet's shape (see the fleet_revision table).
BUMP_FLEET_REVISION_SQL = "UPDATE fleet_revision SET revision = revision + 1"

UPSERT_NODE_SQL = """
INSERT INTO nodes (node_id, hostname, backend, labels, pool, state, registered_at, last_seen)
VALUES ($1, $2, $3, $4, $6, 'ready', $5, $5)
ON CONFLICT (node_id) DO UPDATE SET
    hostname = excluded.hostname, backend = excluded.backend, labels = excluded.labels, pool = excluded.pool,
    state = 'ready', registered_at = excluded.registered_at, lost_at = NULL,
    last_seen = GREATEST(nodes.last_seen, excluded.last_seen)
"""

# A GPU keeps its allocation across re-registrations: only the scheduler binds and frees GPUs.
UPSERT_GPU_SQL = """
INSERT INTO gpus (uuid, node_id, device_index, model, memory_mib, present)
VALUES ($1, $2, $3, $4, $5, true)
ON CONFLICT (uuid) DO UPDATE SET
    node_id = excluded.node_id, device_index = excluded.device_index, model = excluded.model,
    memory_mib = excluded.memory_mib, present = true
"""

CANCEL_PENDING_SQL = """
UPDATE jobs SET state = 'cancelled', reason = 'cancelled on request', version = version + 1
WHERE job_id = $1 AND state = 'pending'
  AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.job_id = $1 AND a.released_at IS NULL)
RETURNING tenant_id, project_id, version
"""

PROMOTE_SQL = """
UPDATE jobs j SET state = 'running', reason = 'all replicas started', version = j.version + 1
WHERE j.job_id = $1 AND j.state = 'scheduled' AND j.ending_state IS NULL
  AND (SELECT count(*) FROM allocations a
       WHERE a.job_id = j.job_id AND a.attempt = j.attempt AND a.started_at IS NOT NULL) = j.replicas
RETURNING tenant_id, project_id, version
"""


class PgFacts:
    def __init__(self, tx: Tx, classes: PriorityClasses | None = None) -> None:
        self._tx = tx
        self._conn = tx.conn
        self._classes = classes or PriorityClasses()

    async def emit(self, event: Event) -> None:
        await self._tx.emit(event)

    async def wake_scheduler(self) -> None:
        # NOTIFY is delivered on commit, to the leader on whichever instance it runs.
        await self._conn.execute(f"NOTIFY {WAKE_CHANNEL}")

    async def add_job(self, event: JobSubmitted) -> bool:
        inserted = await self._conn.fetchval(
            "INSERT INTO jobs (job_id, tenant_id, project_id, spec, restart_policy, replicas, priority,"
            " submitted_at, pool, state, reason, version)"
            " VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7, $8, $9, 'pending', 'queued', 1)"
            " ON CONFLICT (job_id) DO NOTHING RETURNING true",
            event.job_id,
            event.tenant_id,
            event.project_id,
            event.spec.model_dump_json(),
            event.spec.restart_policy.value,
            event.spec.replicas,
            # From the job's class; an older event's own integer clamped: never out of the classes' range.
            self._classes.engine_priority(event.spec.priority_class, event.spec.priority),
            event.occurred_at,
            event.spec.pool,
        )
        return bool(inserted)

    async def cancel_target(self, job_id: str) -> CancelTarget | None:
        row = await self._conn.fetchrow("SELECT tenant_id, state FROM jobs WHERE job_id = $1", job_id)
        return CancelTarget(row["tenant_id"], row["state"]) if row else None

    async def cancel_if_pending(self, job_id: str) -> JobStamp | None:
        row = await self._conn.fetchrow(CANCEL_PENDING_SQL, job_id)
        return JobStamp(row["tenant_id"], row["project_id"], row["version"]) if row else None

    async def request_cancel(self, job_id: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE jobs SET cancel_requested_at = $2 WHERE job_id = $1 AND cancel_requested_at IS NULL",
            job_id,
            at,
        )

    async def quota_owner(self, project_id: str) -> str | None:
        owner: str | None = await self._conn.fetchval(
            "SELECT tenant_id FROM quotas WHERE project_id = $1 LIMIT 1", project_id
        )
        return owner

    async def set_quota(self, event: QuotaSet) -> None:
        await self._conn.execute(
            "INSERT INTO quotas (project_id, gpu_model, tenant_id, gpus, set_at) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (project_id, gpu_model) DO UPDATE SET gpus = excluded.gpus, set_at = excluded.set_at"
            " WHERE quotas.set_at <= excluded.set_at",
            event.project_id,
            event.gpu_model,
            event.tenant_id,
            event.gpus,
            event.occurred_at,
        )

    async def upsert_node(self, event: NodeRegistered) -> None:
        await self._conn.execute(
            UPSERT_NODE_SQL,
            event.node_id,
            event.hostname,
            event.backend,
            event.labels,
            event.occurred_at,
            event.pool,
        )
        await self._conn.executemany(
            UPSERT_GPU_SQL,
            [(g.uuid, event.node_id, g.index, g.model, g.memory_mib) for g in event.gpus],
        )
        await self._conn.execute(
            "UPDATE gpus SET present = false WHERE node_id = $1 AND NOT (uuid = ANY($2::text[]))",
            event.node_id,
            [g.uuid for g in event.gpus],
        )
        await self._conn.execute(BUMP_FLEET_REVISION_SQL)

    async def held_on_node(self, node_id: str) -> list[HeldAllocation]:
        rows = await self._conn.fetch(
            "SELECT allocation_id, started_at FROM allocations"
            " WHERE node_id = $1 AND released_at IS NULL AND exited_at IS NULL",
            node_id,
        )
        return [HeldAllocation(r["allocation_id"], r["started_at"]) for r in rows]

    async def add_strays(self, node_id: str, strays: Sequence[ReportedWorkload], at: datetime) -> None:
        if strays:
            await self._conn.executemany(
                "INSERT INTO stray_workloads (allocation_id, node_id, job_id, noticed_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (allocation_id) DO NOTHING",
                [(s.allocation_id, node_id, s.job_id, at) for s in strays],
            )

    async def mark_missing(self, allocation_ids: Sequence[str], at: datetime) -> None:
        if allocation_ids:
            await self._conn.execute(
                "UPDATE allocations SET exited_at = $2, exit_cause = $3"
                " WHERE allocation_id = ANY($1::text[]) AND released_at IS NULL AND exited_at IS NULL",
                list(allocation_ids),
                at,
                ReleaseCause.MISSING.value,
            )

    async def touch_node(self, node_id: str, seen_at: datetime) -> bool:
        status = await self._conn.execute(
            "UPDATE nodes SET last_seen = GREATEST(last_seen, $2) WHERE node_id = $1", node_id, seen_at
        )
        return bool(status != "UPDATE 0")

    async def live_allocations(self, allocation_ids: Sequence[str]) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT allocation_id FROM allocations WHERE allocation_id = ANY($1::text[]) AND released_at IS NULL",
            list(allocation_ids),
        )
        return {r["allocation_id"] for r in rows}

    async def allocation_owner(self, allocation_id: str) -> tuple[str, str, bool] | None:
        row = await self._conn.fetchrow(
            "SELECT node_id, job_id, released_at IS NULL AS live FROM allocations WHERE allocation_id = $1",
            allocation_id,
        )
        return (row["node_id"], row["job_id"], row["live"]) if row else None

    async def mark_started(self, allocation_id: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE allocations SET started_at = $2 WHERE allocation_id = $1 AND started_at IS NULL",
            allocation_id,
            at,
        )

    async def promote_to_running(self, job_id: str) -> JobStamp | None:
        # Lock first, count in a later statement: two replicas' starts committed on two instances at
        # once would each miss the other's start otherwise, and the job would never run.
        await self._conn.execute("SELECT 1 FROM jobs WHERE job_id = $1 FOR UPDATE", job_id)
        row = await self._conn.fetchrow(PROMOTE_SQL, job_id)
        return JobStamp(row["tenant_id"], row["project_id"], row["version"]) if row else None

    async def record_exit(
        self, allocation_id: str, exit_code: int, cause: ReleaseCause, at: datetime
    ) -> bool:
        status = await self._conn.execute(
            "UPDATE allocations SET exited_at = $2, exit_code = $3, exit_cause = $4"
            " WHERE allocation_id = $1 AND released_at IS NULL AND exited_at IS NULL",
            allocation_id,
            at,
            exit_code,
            cause.value,
        )
        return bool(status != "UPDATE 0")
