"""The PostgreSQL side of ingest's ports: the store inside one transaction, and the dead-letter reader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from uuid import UUID

from services.ingest.app.ports import DeadLetterView, IngestStore
from services.ingest.domain.allocations import AllocationInterval
from services.ingest.domain.held_samples import ExpiredHold
from shared.db.pool import Database, Tx
from shared.events.agent import UsageSampled
from shared.events.base import Event
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationBound, AllocationReleased
from shared.messaging.consumer import record_dead_letter

INTERVALS_ON_GPUS_SQL = """
SELECT g.gpu_uuid, a.allocation_id, a.tenant_id, a.project_id, a.job_id, a.gpu_model, a.bound_at, a.released_at,
    a.gpu_share
FROM allocation_gpus g JOIN allocations a USING (allocation_id)
WHERE g.gpu_uuid = ANY($1::text[]) AND a.bound_at <= $3 AND (a.released_at IS NULL OR a.released_at >= $2)
"""

# Keys in order, so that two batches claiming the same keys lock them in the same order.
CLAIM_SAMPLE_KEYS_SQL = """
INSERT INTO sample_keys (node_id, gpu_uuid, occurred_at, event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::uuid[]) ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING RETURNING event_id
"""

# A release may be handled before its binding (a retried binding): each keeps what the other wrote.
SAVE_BOUND_SQL = """
INSERT INTO allocations (allocation_id, tenant_id, project_id, job_id, node_id, gpu_model, bound_at, gpu_share)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (allocation_id) DO UPDATE SET bound_at = EXCLUDED.bound_at
"""
SAVE_RELEASED_SQL = """
INSERT INTO allocations (allocation_id, tenant_id, project_id, job_id, node_id, gpu_model, bound_at, released_at,
    gpu_share)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (allocation_id) DO UPDATE SET released_at = EXCLUDED.released_at
"""


# The rows waiting for this release go; the samples left waiting for no other release are taken.
TAKE_HELD_SAMPLES_SQL = """
WITH gone AS (DELETE FROM held_samples WHERE allocation_id = $1 RETURNING sample_event_id, body)
SELECT DISTINCT ON (g.sample_event_id) g.body FROM gone g
WHERE NOT EXISTS (
    SELECT 1 FROM held_samples h WHERE h.sample_event_id = g.sample_event_id AND h.allocation_id <> $1
)
"""

# A batch's holds in one statement; keys in order, so that two batches lock them in the same order.
HOLD_SAMPLES_SQL = """
INSERT INTO held_samples (sample_event_id, allocation_id, body)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""

# Whole samples go (every row of a sample held too long), oldest first. Another replica expiring the
# same samples at once waits on their rows and then finds them gone: each is dead-lettered once.
TAKE_EXPIRED_HOLDS_SQL = """
WITH expired AS (
    SELECT sample_event_id FROM held_samples WHERE held_at < $1
    GROUP BY sample_event_id ORDER BY min(held_at), sample_event_id LIMIT $2
), gone AS (
    DELETE FROM held_samples h USING expired e WHERE h.sample_event_id = e.sample_event_id
    RETURNING h.sample_event_id, h.allocation_id, h.body, h.held_at
)
SELECT sample_event_id, min(body) AS body, array_agg(allocation_id ORDER BY allocation_id) AS waiting_for,
    min(held_at) AS held_at
FROM gone GROUP BY sample_event_id ORDER BY min(held_at), sample_event_id
"""


class PgIngestStore(IngestStore):
    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self._conn = tx.conn

    async def claim_sample_keys(self, samples: Sequence[UsageSampled]) -> set[UUID]:
        rows = await self._conn.fetch(
            CLAIM_SAMPLE_KEYS_SQL,
            [sample.node_id for sample in samples],
            [sample.gpu_uuid for sample in samples],
            [sample.occurred_at for sample in samples],
            [sample.event_id for sample in samples],
        )
        return {row["event_id"] for row in rows}

    async def claim_external_key(self, source: str, event_id: str, event_time: datetime) -> bool:
        inserted = await self._conn.fetchval(
            "INSERT INTO external_keys (source, event_id, event_time) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING true",
            source,
            event_id,
            event_time,
        )
        return bool(inserted)

    async def intervals_on_gpus(
        self, gpu_uuids: Collection[str], earliest: datetime, latest: datetime
    ) -> list[AllocationInterval]:
        rows = await self._conn.fetch(INTERVALS_ON_GPUS_SQL, list(gpu_uuids), earliest, latest)
        return [AllocationInterval(*row) for row in rows]  # the columns in the dataclass's field order

    async def hold_samples(self, holds: Sequence[tuple[UsageSampled, Sequence[str]]]) -> None:
        event_ids: list[UUID] = []
        allocation_ids: list[str] = []
        bodies: list[str] = []
        for sample, waiting_for in holds:
            body = sample.model_dump_json()
            for allocation_id in waiting_for:
                event_ids.append(sample.event_id)
                allocation_ids.append(allocation_id)
                bodies.append(body)
        await self._conn.execute(HOLD_SAMPLES_SQL, event_ids, allocation_ids, bodies)

    async def take_held_samples(self, allocation_id: str) -> list[UsageSampled]:
        rows = await self._conn.fetch(TAKE_HELD_SAMPLES_SQL, allocation_id)
        return [UsageSampled.model_validate_json(row["body"]) for row in rows]

    async def take_expired_holds(self, held_before: datetime, limit: int) -> list[ExpiredHold]:
        rows = await self._conn.fetch(TAKE_EXPIRED_HOLDS_SQL, held_before, limit)
        return [ExpiredHold(**dict(row)) for row in rows]

    async def save_bound(self, event: AllocationBound) -> None:
        await self._conn.execute(
            SAVE_BOUND_SQL,
            event.allocation_id,
            event.tenant_id,
            event.project_id,
            event.job_id,
            event.node_id,
            event.gpu_model,
            event.bound_at,
            event.gpu_share,
        )
        await self._conn.execute(
            "INSERT INTO allocation_gpus (allocation_id, gpu_uuid) SELECT $1, unnest($2::text[]) "
            "ON CONFLICT DO NOTHING",
            event.allocation_id,
            event.gpu_uuids,
        )

    async def save_released(self, event: AllocationReleased) -> None:
        await self._conn.execute(
            SAVE_RELEASED_SQL,
            event.allocation_id,
            event.tenant_id,
            event.project_id,
            event.job_id,
            event.node_id,
            event.gpu_model,
            event.bound_at,
            event.released_at,
            event.gpu_share,
        )

    async def save_tenant(self, tenant_id: str, name: str) -> None:
        await self._conn.execute(
            "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", tenant_id, name
        )

    async def save_project(self, tenant_id: str, project_id: str, name: str) -> None:
        await self._conn.execute(
            "INSERT INTO projects (tenant_id, project_id, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            tenant_id,
            project_id,
            name,
        )

    async def tenant_exists(self, tenant_id: str) -> bool:
        return bool(await self._conn.fetchval("SELECT true FROM tenants WHERE tenant_id = $1", tenant_id))

    async def project_exists(self, tenant_id: str, project_id: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT true FROM projects WHERE tenant_id = $1 AND project_id = $2", tenant_id, project_id
        )
        return bool(found)

    async def emit(self, record: UsageRecorded) -> None:
        await self._tx.emit(record)

    async def emit_all(self, records: Sequence[UsageRecorded]) -> None:
        events: list[Event] = list(records)
        await self._tx.emit_all(events)

    async def dead_letter(
        self, consumer: str, subject: str, payload: bytes, headers: Mapping[str, str], reason: str
    ) -> None:
        await record_dead_letter(self._tx, consumer, subject, payload, headers, reason)

    async def prune(self, before: datetime) -> int:
        removed = 0
        for statement in (
            "DELETE FROM sample_keys WHERE occurred_at < $1",
            "DELETE FROM external_keys WHERE event_time < $1",
            "DELETE FROM allocations WHERE released_at < $1",
        ):
            status = await self._conn.execute(statement, before)
            removed += int(status.rsplit(" ", 1)[-1])
        return removed


class PgUnitOfWork:
    """One PostgreSQL transaction per use, with the outbox relay woken after a commit that emitted."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[IngestStore]:
        async with self._db.transaction() as tx:
            yield PgIngestStore(tx)


class PgDeadLetterReader:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def recent_dead_letters(self, limit: int) -> list[DeadLetterView]:
        rows = await self._db.fetch(
            "SELECT id, consumer, subject, event_id, reason, failed_at FROM dead_letters ORDER BY id DESC LIMIT $1",
            limit,
        )
        return [DeadLetterView(**dict(row)) for row in rows]
