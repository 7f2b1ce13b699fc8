"""The invoice rebuild's source on PostgreSQL: raw usage and allocation events read back as the rating
inputs they were, price books, and the kept invoices (finalized, or the draft as priced now), all from
one read-only REPEATABLE READ snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from services.metering.invoicing.adapters.store import PostgresMeteringStore, price_book_of
from services.metering.invoicing.app.invoices import price_open_invoice
from services.metering.invoicing.app.ports import TenantAccount
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import AllocationInterval, UsageWindow
from shared.db.pool import Database

CHUNK = 5000

# The primary key leads with the tenant: one index range per tenant, filtered on the period.
RAW_USAGE_SQL = """
SELECT event_id, project_id, source, source_event_id, window_start, window_end, energy_j, requests,
    input_tokens, output_tokens
FROM usage_events WHERE tenant_id = $1 AND period = $2
"""
RAW_ALLOCATIONS_SQL = """
SELECT event_id, project_id, allocation_id, gpu_model, gpu_count, gpu_share, bound_at, released_at
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
                gpu_share=row["gpu_share"],
                bound_at=row["bound_at"],
                released_at=row["released_at"],
            )
            for row in rows
        ]

    async def kept_invoice(self, tenant_id: str, period: str) -> BillingInvoice:
        kept = await self._store.open_invoice(tenant_id, period)
        if kept is not None and kept.status is InvoiceStatus.FINALIZED:
            return kept
        tenant = TenantAccount(tenant_id, await self.currency(tenant_id) or "")
        return await price_open_invoice(self._store, tenant, period)
