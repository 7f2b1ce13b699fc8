"""The UsageLedger on PostgreSQL: a batch is written in a few statements, whatever its size.

Raw records and rollup cells go in by binary COPY into temporary staging tables (emptied at commit),
then one INSERT ... SELECT per target: a few round trips per batch, however large. COPY is also the
cheapest encoding asyncpg has (its array parameters check every element against abstract base classes);
quantities travel as text and instants as microseconds since the epoch (exact integers), each distinct
instant converted once per batch. Upserts take their rows in primary-key order, so two batches
committing at once lock shared rows in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from pricing.periods import as_utc
from services.metering.invoicing.adapters.store import price_book_of
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.usage.app.ports import WaitingUsage
from services.metering.usage.domain.batch_rating import TenantBilling, UsageCharge
from services.metering.usage.domain.rollups import GRAINS, Cells, Grain
from shared.db.pool import Tx
from shared.events.base import Event
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased
from shared.messaging.consumer import record_dead_letter

# KEY SHARE: finalizing (FOR UPDATE) and price-book changes wait for the batch, draft snapshots do not.
LOCK_TENANTS_SQL = (
    "SELECT tenant_id, currency FROM tenants WHERE tenant_id = ANY($1::text[]) "
    "ORDER BY tenant_id FOR KEY SHARE"
)

# Temporary tables live as long as the pooled connection; IF NOT EXISTS costs one round trip per batch.
# Each batch empties them as it moves their rows on (and ON COMMIT DELETE ROWS would, were a batch to
# fail half-way).
STAGING_SQL = """
CREATE TEMP TABLE IF NOT EXISTS usage_stage (
    tenant_id text, source text, source_event_id text, event_id uuid, project_id text, window_start bigint,
    window_end bigint, job_id text, node_id text, gpu_uuid text, gpu_model text, utilization float8,
    memory bigint, energy_j text, requests bigint, input_tokens bigint, output_tokens bigint, model_name text,
    occurred_at bigint, period text, gpu_share text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS cell_stage (
    tenant_id text, window_start bigint, project_id text, meter text, gpu_model text, sum text,
    count bigint, max text, latest text, latest_at bigint
) ON COMMIT DELETE ROWS
"""

# Staged instants are microseconds since the epoch: timestamptz 'epoch' + n * interval '1 microsecond' is
# exact (to_timestamp takes float seconds) and, written out, cheaper than any function wrapping it.
INSERT_USAGE_SQL = """
WITH staged AS (DELETE FROM usage_stage RETURNING *)
INSERT INTO usage_events (tenant_id, source, source_event_id, event_id, project_id, window_start, window_end,
    job_id, node_id, gpu_uuid, gpu_model, gpu_utilization_pct, memory_used_mib, energy_j, requests,
    input_tokens, output_tokens, model_name, occurred_at, period, gpu_share)
SELECT tenant_id, source, source_event_id, event_id, project_id,
    timestamptz 'epoch' + window_start * interval '1 microsecond',
    timestamptz 'epoch' + window_end * interval '1 microsecond',
    job_id, node_id, gpu_uuid, gpu_model, utilization, memory, energy_j::numeric,
    requests, input_tokens, output_tokens, model_name,
    timestamptz 'epoch' + occurred_at * interval '1 microsecond', period, gpu_share::numeric
FROM staged
ORDER BY tenant_id, source, source_event_id
ON CONFLICT DO NOTHING
RETURNING event_id
"""

INSERT_ALLOCATION_SQL = """
INSERT INTO allocation_events (event_id, tenant_id, project_id, job_id, allocation_id, node_id, gpu_model,
    gpu_count, bound_at, released_at, reason, epoch, occurred_at, period, gpu_share)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
"""

# The batch's minute cells, merged into the rollups of one grain: first the cells that fall in one window
# of the grain are merged among themselves, then with the stored cell. Merging is usage_windows.Aggregate's:
# sums and counts add, max is the greater, latest is the value of the later reading (the larger on equal
# times). Hours and days are so derived here from the minutes, rather than shipped three times over.
UPSERT_SQL = """
{staged}INSERT INTO usage_rollup_{grain} AS r
    (tenant_id, window_start, project_id, meter, gpu_model, sum, count, max, latest, latest_at)
{select}
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (tenant_id, window_start, project_id, meter, gpu_model) DO UPDATE SET
    sum = r.sum + EXCLUDED.sum,
    count = r.count + EXCLUDED.count,
    max = GREATEST(r.max, EXCLUDED.max),
    latest = CASE WHEN (EXCLUDED.latest_at, EXCLUDED.latest) > (r.latest_at, r.latest)
                  THEN EXCLUDED.latest ELSE r.latest END,
    latest_at = GREATEST(r.latest_at, EXCLUDED.latest_at)
"""
# The staged cells are minutes already, one per key.
MINUTES_SQL = """
SELECT tenant_id, timestamptz 'epoch' + window_start * interval '1 microsecond', project_id, meter, gpu_model,
    sum::numeric, count, max::numeric, latest::numeric, timestamptz 'epoch' + latest_at * interval '1 microsecond'
FROM {source}
"""
# Latest of a group: the greatest (latest_at, latest) pair, as one array (max() compares arrays in order).
COARSER_SQL = """
SELECT tenant_id, timestamptz 'epoch' + window_start * interval '1 microsecond', project_id, meter, gpu_model,
    sum, count, max, latest[2], timestamptz 'epoch' + latest[1] * interval '1 microsecond'
FROM (
    SELECT tenant_id, window_start / {width} * {width} AS window_start, project_id, meter, gpu_model,
        sum(sum::numeric) AS sum, sum(count)::bigint AS count, max(max::numeric) AS max,
        max(ARRAY[latest_at::numeric, latest::numeric]) AS latest
    FROM {source}
    GROUP BY 1, 2, 3, 4, 5
) AS coarser
"""
# Minutes, hours, then days, always in this order (a lock order); the last empties the stage, so that
# another batch in the same transaction (a test's, say) starts from nothing.
UPSERT_CELLS = {
    Grain.MINUTE: UPSERT_SQL.format(
        grain="minute", staged="", select=MINUTES_SQL.format(source="cell_stage")
    ),
    Grain.HOUR: UPSERT_SQL.format(
        grain="hour", staged="", select=COARSER_SQL.format(width=3_600_000_000, source="cell_stage")
    ),
    Grain.DAY: UPSERT_SQL.format(
        grain="day",
        staged="WITH staged AS (DELETE FROM cell_stage RETURNING *)\n",
        select=COARSER_SQL.format(width=86_400_000_000, source="staged"),
    ),
}

UPSERT_CHARGES_SQL = """
INSERT INTO rated_usage AS u (tenant_id, period, usage_period, version, project_id, meter, unit_price,
    base_quantity, priced_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
    $7::numeric[], $8::numeric[], $9::timestamptz[])
ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (tenant_id, period, usage_period, version, project_id, meter) DO UPDATE SET
    base_quantity = u.base_quantity + EXCLUDED.base_quantity,
    priced_at = GREATEST(u.priced_at, EXCLUDED.priced_at)
"""

# DO UPDATE rather than DO NOTHING: it locks a mark that exists, so the publisher's claim (which deletes
# marks, then reads the charges) waits for this batch and sees its charges.
MARK_DIRTY_SQL = """
INSERT INTO dirty_invoices (tenant_id, period)
SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2
ON CONFLICT (tenant_id, period) DO UPDATE SET period = EXCLUDED.period
"""


# A record already waiting keeps the time it started to wait (the limit counts from then).
WAIT_SQL = """
INSERT INTO usage_waiting (event_id, tenant_id, record, reason, since)
SELECT event_id, tenant_id, record::jsonb, reason, $5
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS w(event_id, tenant_id, record, reason)
ORDER BY event_id
ON CONFLICT (event_id) DO UPDATE SET reason = EXCLUDED.reason
"""
WAITING_SQL = """
SELECT record::text AS record, reason, since FROM usage_waiting w
WHERE since < $2 OR EXISTS (SELECT 1 FROM price_books b WHERE b.tenant_id = w.tenant_id)
ORDER BY since, event_id LIMIT $1
FOR UPDATE SKIP LOCKED
"""


class PostgresUsageLedger:
    def __init__(self, tx: Tx, consumer: str) -> None:
        self._tx = tx
        self._conn: asyncpg.Connection = tx.conn
        self._consumer = consumer
        self._staged = False

    async def billing_of(self, tenant_ids: Collection[str]) -> dict[str, TenantBilling]:
        if not tenant_ids:
            return {}
        wanted = sorted(tenant_ids)
        tenants = await self._conn.fetch(LOCK_TENANTS_SQL, wanted)
        known = [row["tenant_id"] for row in tenants]
        books: dict[str, list[PriceBook]] = defaultdict(list)
        for row in await self._conn.fetch(
            "SELECT * FROM price_books WHERE tenant_id = ANY($1::text[]) ORDER BY effective_from, id", known
        ):
            books[row["tenant_id"]].append(price_book_of(row))
        finalized: dict[str, set[str]] = defaultdict(set)
        for row in await self._conn.fetch(
            "SELECT tenant_id, period FROM invoices WHERE tenant_id = ANY($1::text[]) AND status = 'finalized'",
            known,
        ):
            finalized[row["tenant_id"]].add(row["period"])
        return {
            row["tenant_id"]: TenantBilling(
                tenant_id=row["tenant_id"],
                currency=row["currency"],
                books=tuple(books[row["tenant_id"]]),
                finalized=frozenset(finalized[row["tenant_id"]]),
            )
            for row in tenants
        }

    async def add_usage(self, records: Sequence[tuple[UsageRecorded, str]]) -> list[UsageRecorded]:
        if not records:
            return []
        await self._staging()
        epoch = _Epochs()
        await self._conn.copy_records_to_table(
            "usage_stage",
            schema_name="pg_temp",
            records=[
                (
                    r.tenant_id,
                    r.source,
                    r.source_event_id,
                    r.event_id,
                    r.project_id,
                    epoch(r.window_start),
                    epoch(r.window_end),
                    r.job_id,
                    r.node_id,
                    r.gpu_uuid,
                    r.gpu_model,
                    r.gpu_utilization_pct,
                    r.memory_used_mib,
                    str(r.energy_j),
                    r.requests,
                    r.input_tokens,
                    r.output_tokens,
                    r.model_name,
                    epoch(r.occurred_at),
                    period,
                    str(r.gpu_share),
                )
                for r, period in records
            ],
        )
        kept = {row["event_id"] for row in await self._conn.fetch(INSERT_USAGE_SQL)}
        fresh = []
        for record, _ in records:
            if record.event_id in kept:
                kept.discard(
                    record.event_id
                )  # a record twice in one batch (two batches carried it) counts once
                fresh.append(record)
        return fresh

    async def add_allocation(self, event: AllocationReleased, period: str) -> None:
        await self._conn.execute(
            INSERT_ALLOCATION_SQL,
            event.event_id,
            event.tenant_id,
            event.project_id,
            event.job_id,
            event.allocation_id,
            event.node_id,
            event.gpu_model,
            event.gpu_count,
            event.bound_at,
            event.released_at,
            event.reason,
            event.epoch,
            event.occurred_at,
            period,
            event.gpu_share,
        )

    async def add_rollups(self, minutes: Cells) -> None:
        if not minutes:
            return
        await self._staging()
        epoch = _Epochs()
        await self._conn.copy_records_to_table(
            "cell_stage",
            schema_name="pg_temp",
            records=[
                (
                    tenant_id,
                    epoch(start),
                    project_id,
                    meter,
                    gpu_model,
                    str(cell.sum),
                    cell.count,
                    str(cell.max),
                    str(cell.latest),
                    epoch(cell.latest_at),
                )
                for (tenant_id, start, project_id, meter, gpu_model), cell in minutes.items()
            ],
        )
        for grain in GRAINS:
            await self._conn.execute(UPSERT_CELLS[grain])

    async def add_usage_charges(self, charges: Sequence[UsageCharge]) -> None:
        if not charges:
            return
        await self._conn.execute(
            UPSERT_CHARGES_SQL,
            [c.tenant_id for c in charges],
            [c.period for c in charges],
            [c.usage_period for c in charges],
            [c.version for c in charges],
            [c.project_id for c in charges],
            [c.meter.value for c in charges],
            [c.unit_price for c in charges],
            [c.base_quantity for c in charges],
            [c.priced_at for c in charges],
        )

    async def mark_dirty(self, invoices: Collection[tuple[str, str]]) -> None:
        if not invoices:
            return
        await self._conn.execute(
            MARK_DIRTY_SQL, [tenant for tenant, _ in invoices], [period for _, period in invoices]
        )

    async def wait(self, records: Sequence[tuple[UsageRecorded, str]], now: datetime) -> None:
        await self._conn.execute(
            WAIT_SQL,
            [record.event_id for record, _ in records],
            [record.tenant_id for record, _ in records],
            [record.model_dump_json() for record, _ in records],
            [reason for _, reason in records],
            now,
        )

    async def waiting(self, limit: int, expired_before: datetime) -> list[WaitingUsage]:
        return [
            WaitingUsage(UsageRecorded.model_validate_json(row["record"]), row["reason"], row["since"])
            for row in await self._conn.fetch(WAITING_SQL, limit, expired_before)
        ]

    async def stop_waiting(self, event_ids: Collection[UUID]) -> None:
        if event_ids:
            await self._conn.execute(
                "DELETE FROM usage_waiting WHERE event_id = ANY($1::uuid[])", list(event_ids)
            )

    async def _staging(self) -> None:
        if not self._staged:
            await self._conn.execute(STAGING_SQL)
            self._staged = True

    async def emit_all(self, events: Sequence[Event]) -> None:
        await self._tx.emit_all(list(events))

    async def reject(self, event: Event, reason: str) -> None:
        await record_dead_letter(
            self._tx,
            self._consumer,
            event.subject(),
            event.model_dump_json().encode(),
            event.headers(),
            f"rejected: {reason}",
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class _Epochs:
    """Instants as microseconds since the epoch, each distinct one converted once (a batch shares few)."""

    def __init__(self) -> None:
        self._seen: dict[datetime, int] = {}

    def __call__(self, at: datetime) -> int:
        micros = self._seen.get(at)
        if micros is None:
            micros = self._seen[at] = (as_utc(at) - _EPOCH) // _MICROSECOND
        return micros
