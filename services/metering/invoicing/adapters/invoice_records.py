"""What invoice pricing reads and writes on PostgreSQL (schema metering): a live invoice's ledger
entries (by the rules of domain/ledger_sources.py), prepaid credit, invoice revisions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from pricing.meters import MeterName
from services.metering.invoicing.adapters.invoice_rows import billing_invoice_of_row
from services.metering.invoicing.app.ports import CreditGrant
from services.metering.invoicing.domain.charge_ledger import LedgerEntry, LedgerKey, PriceBookVersions
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus, line_document
from services.metering.invoicing.domain.ledger_sources import periods_from

# width_bucket over the versions' start times: 0 before the first (priced by the first), i from the
# i-th on. $2 billed periods, $3 usage periods (NULL: any).
ALLOCATION_ENTRIES_SQL = """
SELECT r.period, r.usage_period, greatest(width_bucket(c.priced_at, $4::timestamptz[]), 1) AS version,
    r.project_id, c.meter, c.gpu_model, sum(c.base_quantity) AS base_quantity
FROM rated_items r JOIN rated_charges c ON c.rated_item_id = r.id
WHERE r.tenant_id = $1 AND r.period = ANY($2::text[]) AND ($3::text[] IS NULL OR r.usage_period = ANY($3))
  AND c.unit_price IS NOT NULL AND c.base_quantity > 0
GROUP BY 1, 2, 3, 4, 5, 6
"""
USAGE_ENTRIES_SQL = """
SELECT period, usage_period, version, project_id, meter, base_quantity FROM rated_usage
WHERE tenant_id = $1 AND period = ANY($2::text[]) AND ($3::text[] IS NULL OR usage_period = ANY($3))
  AND base_quantity > 0
"""
CREDIT_BALANCE_SQL = """
SELECT (SELECT coalesce(sum(amount), 0) FROM credit_grants WHERE tenant_id = $1)
     - (SELECT coalesce(sum(credit_applied), 0) FROM invoices WHERE tenant_id = $1 AND status = 'finalized')
"""
SAVE_INVOICE_SQL = """
INSERT INTO invoices (tenant_id, period, invoice_id, status, currency, lines, total, updated_at, finalized_at,
    revision, replaces, subtotal, credit_opening, credit_applied, credit_remaining)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (tenant_id, period) WHERE status <> 'void' DO UPDATE
SET status = EXCLUDED.status, currency = EXCLUDED.currency, lines = EXCLUDED.lines, total = EXCLUDED.total,
    updated_at = EXCLUDED.updated_at, finalized_at = EXCLUDED.finalized_at, subtotal = EXCLUDED.subtotal,
    credit_opening = EXCLUDED.credit_opening, credit_applied = EXCLUDED.credit_applied,
    credit_remaining = EXCLUDED.credit_remaining
WHERE invoices.status = 'draft' AND invoices.invoice_id = EXCLUDED.invoice_id
"""


class PostgresBillingRecords:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def ledger_entries(
        self, tenant_id: str, period: str, versions: PriceBookVersions
    ) -> list[LedgerEntry]:
        """The entries pricing the period's invoice needs: what it bills, and for each earlier usage
        period it bills late usage of, that period's usage billed before (ledger_sources.py)."""
        entries = await self._allocation_entries(tenant_id, [period], None, versions)
        entries += await self._usage_entries(tenant_id, [period], None)
        late = sorted({e.key.usage_period for e in entries if e.key.usage_period < period})
        if late:
            earlier = periods_from(late[0], period)
            entries += await self._allocation_entries(tenant_id, earlier, late, versions)
            entries += await self._usage_entries(tenant_id, earlier, late)
        return entries

    async def _allocation_entries(
        self, tenant_id: str, billed: list[str], usage: list[str] | None, versions: PriceBookVersions
    ) -> list[LedgerEntry]:
        starts = versions.starts()
        rows = await self._conn.fetch(ALLOCATION_ENTRIES_SQL, tenant_id, billed, usage, starts)
        return [
            LedgerEntry(
                LedgerKey(
                    r["period"],
                    r["usage_period"],
                    starts[r["version"] - 1],
                    r["project_id"],
                    MeterName(r["meter"]),
                    r["gpu_model"] if r["meter"] == MeterName.GPU_HOURS.value else None,
                ),
                r["base_quantity"],
            )
            for r in rows
        ]

    async def _usage_entries(
        self, tenant_id: str, billed: list[str], usage: list[str] | None
    ) -> list[LedgerEntry]:
        rows = await self._conn.fetch(USAGE_ENTRIES_SQL, tenant_id, billed, usage)
        return [
            LedgerEntry(
                LedgerKey(
                    r["period"], r["usage_period"], r["version"], r["project_id"], MeterName(r["meter"]), None
                ),
                r["base_quantity"],
            )
            for r in rows
        ]

    async def credit_balance(self, tenant_id: str) -> Decimal:
        """Granted credit less what finalized invoices applied (a void invoice's credit is back)."""
        balance: Decimal = await self._conn.fetchval(CREDIT_BALANCE_SQL, tenant_id)
        return balance

    async def add_credit_grant(self, source_event_id: UUID, grant: CreditGrant) -> bool:
        added = await self._conn.fetchval(
            "INSERT INTO credit_grants (grant_id, tenant_id, source_event_id, amount, currency, note, granted_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
            grant.grant_id,
            grant.tenant_id,
            source_event_id,
            grant.amount,
            grant.currency,
            grant.note,
            grant.granted_at,
        )
        return bool(added)

    async def draft_periods(self, tenant_id: str) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT period FROM invoices WHERE tenant_id = $1 AND status = 'draft' ORDER BY period", tenant_id
        )
        return [row["period"] for row in rows]

    async def open_invoice(self, tenant_id: str, period: str) -> BillingInvoice | None:
        """The period's invoice that is not void (a draft or finalized one), if any."""
        row = await self._conn.fetchrow(
            "SELECT * FROM invoices WHERE tenant_id = $1 AND period = $2 AND status <> 'void'",
            tenant_id,
            period,
        )
        return None if row is None else billing_invoice_of_row(row)

    async def invoice_by_id(self, tenant_id: str, invoice_id: str) -> BillingInvoice | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM invoices WHERE tenant_id = $1 AND invoice_id = $2", tenant_id, invoice_id
        )
        return None if row is None else billing_invoice_of_row(row)

    async def save_billing_invoice(self, invoice: BillingInvoice, at: datetime) -> None:
        """Insert or replace the period's draft; a finalized or void invoice is never replaced."""
        await self._conn.execute(
            SAVE_INVOICE_SQL,
            invoice.tenant_id,
            invoice.period,
            invoice.invoice_id,
            invoice.status.value,
            invoice.currency,
            [line_document(line) for line in invoice.lines],
            invoice.total,
            at,
            invoice.finalized_at or (at if invoice.status is InvoiceStatus.FINALIZED else None),
            invoice.revision,
            invoice.replaces,
            invoice.subtotal,
            invoice.credit_opening,
            invoice.credit_applied,
            invoice.credit_remaining,
        )

    async def void_invoice(self, voided: BillingInvoice, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE invoices SET status = 'void', voided_at = $3, void_reason = $4, updated_at = $3 "
            "WHERE tenant_id = $1 AND invoice_id = $2 AND status = 'finalized'",
            voided.tenant_id,
            voided.invoice_id,
            voided.voided_at or at,
            voided.void_reason,
        )
