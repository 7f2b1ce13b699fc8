"""The MeteringStore on PostgreSQL (schema metering), bound to one transaction's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from services.metering.invoicing.adapters.invoice_records import PostgresBillingRecords
from services.metering.invoicing.app.ports import TenantAccount
from services.metering.invoicing.app.price_book_specs import (
    commitment_documents,
    plan_documents,
    stored_price_book,
)
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import RatedItem

INSERT_ITEM_SQL = """
INSERT INTO rated_items (source_event_id, source_key, kind, tenant_id, project_id, usage_period, period,
                         occurred_at, priced_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
RETURNING id
"""

# NO KEY UPDATE: replicas skip each other's tenants, and so do rating and finalizing (FOR SHARE, FOR
# UPDATE), but not the usage pipeline's FOR KEY SHARE, so a steady stream of usage batches cannot starve
# the snapshots. Its dirty marks are upserts that lock the row, so none is lost to a concurrent claim.
CLAIM_DUE_TENANTS_SQL = """
SELECT t.tenant_id, t.currency FROM tenants t
WHERE EXISTS (SELECT 1 FROM dirty_invoices d WHERE d.tenant_id = t.tenant_id)
  AND (t.last_published_at IS NULL OR t.last_published_at <= $1)
ORDER BY t.tenant_id
LIMIT $2
FOR NO KEY UPDATE OF t SKIP LOCKED
"""


class PostgresMeteringStore(PostgresBillingRecords):
    async def add_tenant(self, tenant_id: str, name: str, currency: str) -> bool:
        created = await self._conn.fetchval(
            "INSERT INTO tenants (tenant_id, name, currency) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING true",
            tenant_id,
            name,
            currency,
        )
        return bool(created)

    async def lock_tenant(self, tenant_id: str, *, exclusive: bool) -> TenantAccount | None:
        lock = "FOR UPDATE" if exclusive else "FOR SHARE"
        row = await self._conn.fetchrow(
            f"SELECT tenant_id, currency FROM tenants WHERE tenant_id = $1 {lock}", tenant_id
        )
        return TenantAccount(row["tenant_id"], row["currency"]) if row else None

    async def set_currency(self, tenant_id: str, currency: str) -> None:
        await self._conn.execute("UPDATE tenants SET currency = $2 WHERE tenant_id = $1", tenant_id, currency)

    async def has_rated_items(self, tenant_id: str) -> bool:
        return bool(
            await self._conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM rated_items WHERE tenant_id = $1) "
                "OR EXISTS (SELECT 1 FROM rated_usage WHERE tenant_id = $1)",
                tenant_id,
            )
        )

    async def add_price_book(self, source_event_id: UUID, book: PriceBook) -> None:
        await self._conn.execute(
            "INSERT INTO price_books (tenant_id, source_event_id, effective_from, currency, gpu_hour, "
            "per_1k_tokens, per_request, per_kwh, plans, commitments) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            book.tenant_id,
            source_event_id,
            book.effective_from,
            book.currency,
            {model: str(price) for model, price in book.gpu_hour.items()},  # strings keep Decimal exact
            book.per_1k_tokens,
            book.per_request,
            book.per_kwh,
            plan_documents(book.plans),
            commitment_documents(book.commitments),
        )

    async def price_books(self, tenant_id: str) -> Sequence[PriceBook]:
        rows = await self._conn.fetch(
            "SELECT * FROM price_books WHERE tenant_id = $1 ORDER BY effective_from, id", tenant_id
        )
        return [price_book_of(row) for row in rows]

    async def finalized_periods(self, tenant_id: str) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT period FROM invoices WHERE tenant_id = $1 AND status = 'finalized'", tenant_id
        )
        return {row["period"] for row in rows}

    async def add_rated_item(self, item: RatedItem) -> UUID | None:
        item_id = await self._conn.fetchval(
            INSERT_ITEM_SQL,
            item.source_event_id,
            item.source_key,
            item.kind,
            item.tenant_id,
            item.project_id,
            item.usage_period,
            item.period,
            item.occurred_at,
            item.priced_at,
        )
        if item_id is None:
            holder: UUID = await self._conn.fetchval(
                "SELECT source_event_id FROM rated_items WHERE source_event_id = $1 "
                "OR (tenant_id = $2 AND source_key = $3) LIMIT 1",
                item.source_event_id,
                item.tenant_id,
                item.source_key,
            )
            return holder
        await self._conn.executemany(
            "INSERT INTO rated_charges (rated_item_id, meter, gpu_model, base_quantity, unit_price, priced_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (item_id, c.meter.value, c.gpu_model, c.base_quantity, c.unit_price, c.priced_at)
                for c in item.charges
            ],
        )
        return None

    async def invoice_status(self, tenant_id: str, period: str) -> InvoiceStatus | None:
        status = await self._conn.fetchval(
            "SELECT status FROM invoices WHERE tenant_id = $1 AND period = $2 AND status <> 'void'",
            tenant_id,
            period,
        )
        return InvoiceStatus(status) if status else None

    async def save_invoice(self, invoice: BillingInvoice, at: datetime) -> None:
        """Insert or replace a draft; a finalized invoice is never replaced."""
        await self.save_billing_invoice(invoice, at)

    async def mark_dirty(self, tenant_id: str, period: str) -> None:
        await self._conn.execute(
            "INSERT INTO dirty_invoices (tenant_id, period) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            tenant_id,
            period,
        )

    async def clear_dirty(self, tenant_id: str, period: str) -> None:
        await self._conn.execute(
            "DELETE FROM dirty_invoices WHERE tenant_id = $1 AND period = $2", tenant_id, period
        )

    async def claim_due_tenants(self, published_before: datetime, limit: int) -> Sequence[TenantAccount]:
        rows = await self._conn.fetch(CLAIM_DUE_TENANTS_SQL, published_before, limit)
        return [TenantAccount(row["tenant_id"], row["currency"]) for row in rows]

    async def take_dirty_periods(self, tenant_id: str) -> list[str]:
        rows = await self._conn.fetch(
            "DELETE FROM dirty_invoices WHERE tenant_id = $1 RETURNING period", tenant_id
        )
        return sorted(row["period"] for row in rows)

    async def mark_published(self, tenant_id: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE tenants SET last_published_at = $2 WHERE tenant_id = $1", tenant_id, at
        )


def price_book_of(row: asyncpg.Record) -> PriceBook:
    return stored_price_book(
        row["tenant_id"],
        row["currency"],
        row["effective_from"],
        (
            {model: Decimal(price) for model, price in row["gpu_hour"].items()},
            row["per_1k_tokens"],
            row["per_request"],
            row["per_kwh"],
        ),
        row["plans"],
        row["commitments"],
    )
