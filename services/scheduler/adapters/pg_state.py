"""Loading what a scheduling cycle decides on, in the cycle's transaction: the queue, what holds GPUs,
the fleet, quotas, and the fair-share history.

Few round trips whatever the size: one query each. What a job asks for never changes once submitted,
so it is read once (a few fields of the spec, no spec parsed) and kept while the job waits or runs;
each cycle reads only what moves: versions and reasons of the queue, the live allocations. The applier
reads the full spec of the jobs it places only.

The spec's fields are read as text and checked here, not cast in SQL: one job's bad value (a maximum
runtime out of range, from before the bound) must fail that job only (set aside), never the cycle's
query. A job already holding GPUs keeps running, its maximum runtime clamped to the bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import groupby

import asyncpg

from services.scheduler.domain.engine.model import JobRequest
from services.scheduler.domain.model import (
    FleetGpu,
    FleetNode,
    HeldReplica,
    HoldingJob,
    LiveState,
    ProjectQuota,
    QueuedJob,
    SetAside,
    UsageHistory,
    UsedGpus,
    set_aside_reason,
)
from services.scheduler.domain.pools import PoolPolicies, reads_by_priority
from shared.events.jobs import (
    MAX_GPUS_PER_REPLICA,
    MAX_RUNTIME_S,
    RestartPolicy,
    max_runtime_refusal,
    share_to_milli,
)

# What JobRequest needs, from the jobs table (aliased j).
REQUEST_COLUMNS = """
j.job_id, j.tenant_id, j.project_id, j.submitted_at, j.replicas, j.priority, j.restart_policy,
j.spec->>'gpus_per_replica' AS gpus_per_replica, j.spec->>'max_runtime_s' AS max_runtime_s,
j.spec->>'gpu_fraction' AS gpu_fraction,
CASE WHEN COALESCE(jsonb_typeof(j.spec->'gpu_models'), 'array') = 'array'
     THEN ARRAY(SELECT jsonb_array_elements_text(COALESCE(j.spec->'gpu_models', '[]'))) END AS gpu_models
"""
QUEUE_FILTER = "j.state = 'pending' AND j.cancel_requested_at IS NULL AND j.ending_state IS NULL"
# Each pool's first $1 pending jobs, in its order: by priority class then submission, or by submission
# ($2, $3: pools and whether they read by priority; $4: for the others). The pools with pending jobs
# are found by skipping through the queue's index, a few probes per pool whatever the queue's length;
# both orders have an index that leads with the pool (migrations).
QUEUE_SQL = f"""
WITH RECURSIVE queued (pool) AS (
    (SELECT j.pool FROM jobs j WHERE {QUEUE_FILTER} ORDER BY j.pool LIMIT 1)
    UNION ALL
    SELECT (SELECT j.pool FROM jobs j WHERE {QUEUE_FILTER} AND j.pool > q.pool ORDER BY j.pool LIMIT 1)
    FROM queued q WHERE q.pool IS NOT NULL
), pools AS (
    SELECT q.pool, COALESCE(o.by_priority, $4) AS by_priority
    FROM queued q LEFT JOIN unnest($2::text[], $3::bool[]) AS o (pool, by_priority) ON o.pool = q.pool
    WHERE q.pool IS NOT NULL
)
SELECT q.* FROM pools p CROSS JOIN LATERAL (
    (SELECT j.job_id, j.pool, j.version, j.reason FROM jobs j
     WHERE {QUEUE_FILTER} AND j.pool = p.pool AND p.by_priority
     ORDER BY j.priority DESC, j.submitted_at, j.job_id LIMIT $1)
    UNION ALL
    (SELECT j.job_id, j.pool, j.version, j.reason FROM jobs j
     WHERE {QUEUE_FILTER} AND j.pool = p.pool AND NOT p.by_priority
     ORDER BY j.submitted_at, j.job_id LIMIT $1)
) q
"""

HOLDING_SQL = """
SELECT job_id, replica, node_id, gpu_model, gpu_uuids, COALESCE(started_at, bound_at) AS started_at,
       stop_requested_at IS NOT NULL AS stopping, gpu_milli
FROM allocations WHERE released_at IS NULL ORDER BY job_id, replica
"""

# `placed`: whether the job holds GPUs (is no longer pending).
REQUESTS_SQL = (
    f"SELECT {REQUEST_COLUMNS}, j.state <> 'pending' AS placed FROM jobs j WHERE j.job_id = ANY($1::text[])"
)

# Whether the engine has anything to decide: a job waits, or a job that holds GPUs must end in time.
NEEDS_DECISIONS_SQL = f"""
SELECT EXISTS (SELECT 1 FROM jobs j WHERE {QUEUE_FILTER})
    OR EXISTS (SELECT 1 FROM allocations a JOIN jobs j USING (job_id)
               WHERE a.released_at IS NULL AND a.stop_requested_at IS NULL
                 AND j.spec->>'max_runtime_s' IS NOT NULL)
"""

USED_GPUS_SQL = """
SELECT project_id, min(tenant_id) AS tenant_id, sum(cardinality(gpu_uuids) * gpu_milli / 1000.0)::float8 AS gpus
FROM allocations WHERE released_at IS NULL GROUP BY project_id
"""

FLEET_SQL = """
SELECT n.node_id, n.state = 'ready' AS ready, n.labels->>'nvlink_domain' AS nvlink_domain,
       n.labels->>'rack' AS rack, n.pool, g.uuid, g.model, g.healthy
FROM nodes n JOIN gpus g ON g.node_id = n.node_id AND g.present
ORDER BY n.node_id, g.device_index
"""

ATTAINED_SQL = """
SELECT job_id, sum(cardinality(gpu_uuids) * gpu_milli / 1000.0
                  * extract(epoch FROM COALESCE(released_at, $2) - bound_at))::float8 AS gpu_s
FROM allocations WHERE job_id = ANY($1::text[]) GROUP BY job_id
"""

LOAD_HISTORY_SQL = """
SELECT c.decayed_at, h.queue_id, h.tenant_id, h.gpu_seconds
FROM usage_history_clock c LEFT JOIN usage_history h ON true
"""

# One round trip: upsert what is kept, drop what decayed away, move the clock.
SAVE_HISTORY_SQL = """
WITH kept AS (
    INSERT INTO usage_history (queue_id, tenant_id, gpu_seconds)
    SELECT * FROM unnest($1::text[], $2::text[], $3::float8[])
    ON CONFLICT (queue_id) DO UPDATE SET tenant_id = excluded.tenant_id, gpu_seconds = excluded.gpu_seconds
), dropped AS (
    DELETE FROM usage_history WHERE NOT (queue_id = ANY($1::text[]))
)
UPDATE usage_history_clock SET decayed_at = $4
"""


@dataclass(frozen=True)
class KnownFleet:
    """The fleet as read at a revision of the fleet_revision table (None: true of no revision, as the
    transaction that read it had changed it)."""

    revision: int | None
    nodes: tuple[FleetNode, ...]


class StateReader:
    def __init__(self, conn: asyncpg.Connection, requests: dict[str, JobRequest]) -> None:
        """`requests`: what each job asks for, kept from earlier cycles (requests never change)."""
        self._conn = conn
        self._requests = requests

    async def needs_decisions(self) -> bool:
        return bool(await self._conn.fetchval(NEEDS_DECISIONS_SQL))

    async def load_state(
        self, now: float, max_pending: int, nodes: tuple[FleetNode, ...], policies: PoolPolicies
    ) -> LiveState:
        named = sorted(policies.named)
        queue = await self._conn.fetch(
            QUEUE_SQL,
            max_pending,
            named,
            [reads_by_priority(policies.named[pool]) for pool in named],
            reads_by_priority(policies.default),
        )
        held = _groups(await self._conn.fetch(HOLDING_SQL), "job_id")
        requests, unusable = await self._requests_of(
            [r["job_id"] for r in queue] + [rows[0]["job_id"] for rows in held]
        )
        pending = tuple(
            QueuedJob(requests[r["job_id"]], r["version"], r["reason"], r["pool"])
            for r in queue
            if r["job_id"] in requests
        )
        set_aside = tuple(
            SetAside(r["job_id"], row["tenant_id"], row["project_id"], r["version"], set_aside_reason(why))
            for r in queue
            if r["job_id"] in unusable
            for row, why in (unusable[r["job_id"]],)
        )
        holding = tuple(
            HoldingJob(requests[rows[0]["job_id"]], tuple(_held(r) for r in rows)) for rows in held
        )
        attained: dict[str, float] = {}
        if policies.any_las:
            jobs = [j.request.job_id for j in pending] + [j.request.job_id for j in holding]
            rows = await self._conn.fetch(ATTAINED_SQL, jobs, datetime.fromtimestamp(now, UTC))
            attained = {r["job_id"]: r["gpu_s"] for r in rows}
        return LiveState(
            now=now,
            nodes=nodes,
            quotas=await self._load_quotas(),
            pending=pending,
            holding=holding,
            attained_service=attained,
            set_aside=set_aside,
        )

    async def _requests_of(
        self, job_ids: list[str]
    ) -> tuple[dict[str, JobRequest], dict[str, tuple[asyncpg.Record, str]]]:
        """The jobs' requests, read for those not kept yet; the kept ones are trimmed to these jobs. And
        the pending jobs whose rows make no request: job id -> (row, why)."""
        known = self._requests
        missing = [job_id for job_id in job_ids if job_id not in known]
        unusable: dict[str, tuple[asyncpg.Record, str]] = {}
        for row in await self._conn.fetch(REQUESTS_SQL, missing) if missing else ():
            try:
                known[row["job_id"]] = _request(row)
            except ValueError as error:
                unusable[row["job_id"]] = (row, str(error))
        for gone in known.keys() - set(job_ids):
            del known[gone]
        return known, unusable

    async def load_fleet(self) -> tuple[FleetNode, ...]:
        return tuple(
            FleetNode(
                gpus[0]["node_id"],
                gpus[0]["ready"],
                tuple(FleetGpu(r["uuid"], r["model"], r["healthy"]) for r in gpus),
                nvlink_domain=gpus[0]["nvlink_domain"],
                rack=gpus[0]["rack"],
                pool=gpus[0]["pool"],
            )
            for gpus in _groups(await self._conn.fetch(FLEET_SQL), "node_id")
        )

    async def _load_quotas(self) -> dict[str, ProjectQuota]:
        rows = await self._conn.fetch(
            "SELECT project_id, tenant_id, gpu_model, gpus FROM quotas ORDER BY project_id"
        )
        return {
            group[0]["project_id"]: ProjectQuota(
                group[0]["tenant_id"], {r["gpu_model"]: r["gpus"] for r in group}
            )
            for group in _groups(rows, "project_id")
        }

    async def load_used_gpus(self) -> UsedGpus:
        rows = await self._conn.fetch(USED_GPUS_SQL)
        return {r["project_id"]: (r["tenant_id"], r["gpus"]) for r in rows}

    async def load_usage_history(self) -> UsageHistory:
        rows = await self._conn.fetch(LOAD_HISTORY_SQL)
        decayed_at = rows[0]["decayed_at"]
        kept = [r for r in rows if r["queue_id"] is not None]
        return UsageHistory(
            gpu_seconds={r["queue_id"]: r["gpu_seconds"] for r in kept},
            tenants={r["queue_id"]: r["tenant_id"] for r in kept},
            decayed_at=None if decayed_at is None else decayed_at.timestamp(),
        )

    async def save_usage_history(self, history: UsageHistory) -> None:
        queues: Sequence[str] = sorted(history.gpu_seconds)
        decayed_at = None if history.decayed_at is None else datetime.fromtimestamp(history.decayed_at, UTC)
        await self._conn.execute(
            SAVE_HISTORY_SQL,
            queues,
            [history.tenants[q] for q in queues],
            [history.gpu_seconds[q] for q in queues],
            decayed_at,
        )


def _groups(rows: list[asyncpg.Record], column: str) -> list[list[asyncpg.Record]]:
    """Runs of rows with the same value in `column` (the query orders by it)."""
    return [list(group) for _, group in groupby(rows, lambda r: r[column])]


def _request(row: asyncpg.Record) -> JobRequest:
    """What the job asks for; ValueError says which value of its spec cannot be used."""
    gpus = _number(row["gpus_per_replica"], "gpus_per_replica", "1")
    if gpus != int(gpus) or not 1 <= gpus <= MAX_GPUS_PER_REPLICA:
        raise ValueError(f"gpus_per_replica must be 1 to {MAX_GPUS_PER_REPLICA}, not {gpus}")
    share = _number(row["gpu_fraction"], "gpu_fraction", "1")
    if not 0 < share <= 1 or share != round(share, 3):
        raise ValueError(f"gpu_fraction must be more than 0 and at most 1, in thousandths, not {share}")
    if row["gpu_models"] is None:
        raise ValueError("gpu_models must be a list of GPU models")
    return JobRequest(
        job_id=row["job_id"],
        tenant_id=row["tenant_id"],
        project_id=row["project_id"],
        submitted_at=row["submitted_at"].timestamp(),
        replicas=row["replicas"],
        gpus_per_replica=int(gpus),
        gpu_milli=share_to_milli(share),
        gpu_models=tuple(row["gpu_models"]),
        priority=row["priority"],
        max_runtime_s=_max_runtime(row),
        # A job that must not restart (restart policy `fail`) is never preempted: that would restart it.
        preemptible=row["restart_policy"] == RestartPolicy.REQUEUE.value,
    )


def _number(text: str | None, name: str, default: str) -> Decimal:
    try:
        value = Decimal(default if text is None else text)
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number, not {text!r}")
    return value


def _max_runtime(row: asyncpg.Record) -> float | None:
    """The maximum runtime checked again where it is used: out of range refuses a job not yet placed
    (JobSpec once took any positive integer); a placed one (it holds GPUs) runs to at most the bound."""
    text = row["max_runtime_s"]
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"max_runtime_s must be a number, not {text!r}") from None
    refusal = max_runtime_refusal(value)
    if refusal is None:
        return value
    if row["placed"]:
        return float(MAX_RUNTIME_S)
    raise ValueError(refusal)


def _held(row: asyncpg.Record) -> HeldReplica:
    return HeldReplica(
        replica=row["replica"],
        node_id=row["node_id"],
        gpu_model=row["gpu_model"],
        gpu_uuids=tuple(row["gpu_uuids"]),
        started_at=row["started_at"].timestamp(),
        stopping=row["stopping"],
        gpu_milli=row["gpu_milli"],
    )
