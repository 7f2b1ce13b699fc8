"""The invoice rebuild's source on PostgreSQL: raw usage and allocation events read back as the rating
inputs they were, price books, the pipeline's accumulated charges and finalized invoices, all from one
read-only REPEATABLE READ snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from services.metering.adapters.invoice_reader import invoice_of_row
from services.metering.adapters.postgres_store import PostgresMeteringStore, price_book_of
from services.metering.domain.invoice import Invoice
from services.metering.domain.pricing import PriceBook
from services.metering.domain.rating import AllocationInterval, Charge, UsageWindow
from shared.db.pool import Database

CHUNK = 5000

# The primary key leads with the tenant: one index range per tenant, filtered on the period.
RAW_USAGE_SQL = """
SELECT event_id, project_id, source, source_event_id, window_start, window_end, energy_j, requests,
    input_tokens, output_tokens
FROM usage_events WHERE tenant_id = $1 AND period = $2
"""
RAW_ALLOCATIONS_SQL = """
SELECT event_id, project_id, allocation_id, gpu_model, gpu_count, bound_at, released_at
FROM allocation_events WHERE tenant_id = $1 AND period = $2
"""
BILLED_PERIODS_SQL = """
SELECT DISTINCT period FROM usage_events WHERE tenant_id = $1
UNION SELECT period FROM allocation_events WHERE tenant_id = $1
UNION SELECT period FROM invoices WHERE tenant_id = $1
ORDER BY period
"""


@asynccontextmanager
async def raw_billing_snapshot(db: Database) -> AsyncIterator[PostgresRawBilling]:
    async with db.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield PostgresRawBilling(conn)


class PostgresRawBilling:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._store = PostgresMeteringStore(conn)

    async def currency(self, tenant_id: str) -> str | None:
        currency: str | None = await self._conn.fetchval(
            "SELECT currency FROM tenants WHERE tenant_id = $1", tenant_id
        )
        return currency

    async def price_books(self, tenant_id: str) -> Sequence[PriceBook]:
        rows = await self._conn.fetch(
            "SELECT * FROM price_books WHERE tenant_id = $1 ORDER BY effective_from, id", tenant_id
        )
        return [price_book_of(row) for row in rows]

    async def billed_periods(self, tenant_id: str) -> list[str]:
        return [row["period"] for row in await self._conn.fetch(BILLED_PERIODS_SQL, tenant_id)]

    async def raw_usage(self, tenant_id: str, period: str) -> AsyncIterator[Sequence[UsageWindow]]:
        chunk: list[UsageWindow] = []
        async for row in self._conn.cursor(RAW_USAGE_SQL, tenant_id, period, prefetch=CHUNK):
            chunk.append(
                UsageWindow(
                    source_event_id=row["event_id"],
                    tenant_id=tenant_id,
                    project_id=row["project_id"],
                    source=row["source"],
                    source_id=row["source_event_id"],
                    window_start=row["window_start"],
                    window_end=row["window_end"],
                    energy_j=row["energy_j"],
                    requests=row["requests"],
                    input_tokens=row["input_tokens"],
                    output_tokens=row["output_tokens"],
                )
            )
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def raw_allocations(
        self, tenant_id: str, period: str
    ) -> AsyncIterator[Sequence[AllocationInterval]]:
        rows = await self._conn.fetch(RAW_ALLOCATIONS_SQL, tenant_id, period)
        yield [
            AllocationInterval(
                source_event_id=row["event_id"],
                tenant_id=tenant_id,
                project_id=row["project_id"],
                allocation_id=row["allocation_id"],
                gpu_model=row["gpu_model"],
                gpu_count=row["gpu_count"],
                bound_at=row["bound_at"],
                released_at=row["released_at"],
            )
            for row in rows
        ]

    async def kept_charges(self, tenant_id: str, period: str) -> Sequence[Charge]:
        return await self._store.charges(tenant_id, period)

    async def finalized_invoice(self, tenant_id: str, period: str) -> Invoice | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM invoices WHERE tenant_id = $1 AND period = $2 AND status = 'finalized'",
            tenant_id,
            period,
        )
        return None if row is None else invoice_of_row(row)
