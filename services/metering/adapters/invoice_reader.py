"""Reading the live invoices (table invoices, as postgres_store.py saves them) for the exports."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from services.metering.domain.billing import BillingInvoice
from services.metering.domain.invoice import Invoice, InvoiceLine, InvoiceStatus
from services.metering.domain.invoice_conversion import billing_invoice_of
from services.metering.domain.meters import MeterName
from shared.db.pool import Database


def invoice_of_row(row: asyncpg.Record) -> Invoice:
    """A row of table invoices as the Invoice it was saved from (postgres_store.py's _line_json, reversed)."""
    return Invoice(
        invoice_id=row["invoice_id"],
        tenant_id=row["tenant_id"],
        period=row["period"],
        status=InvoiceStatus(row["status"]),
        currency=row["currency"],
        lines=tuple(
            InvoiceLine(
                project_id=line["project_id"],
                meter=MeterName(line["meter"]),
                gpu_model=line["gpu_model"],
                quantity=Decimal(line["quantity"]),
                unit=line["unit"],
                unit_price=Decimal(line["unit_price"]),
                amount=Decimal(line["amount"]),
            )
            for line in row["lines"]
        ),
        total=row["total"],
    )


class PgInvoiceReader:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def invoice(self, tenant_id: str, invoice_id: str) -> BillingInvoice | None:
        """The tenant's invoice; None when there is none by that id, or it is another tenant's."""
        row = await self._db.fetchrow(
            "SELECT * FROM invoices WHERE tenant_id = $1 AND invoice_id = $2", tenant_id, invoice_id
        )
        return None if row is None else billing_invoice_of(invoice_of_row(row), row["finalized_at"])

    async def invoices(self, tenant_id: str, period: str) -> Sequence[BillingInvoice]:
        rows = await self._db.fetch(
            "SELECT * FROM invoices WHERE tenant_id = $1 AND period = $2", tenant_id, period
        )
        return [billing_invoice_of(invoice_of_row(row), row["finalized_at"]) for row in rows]

    async def tenant_name(self, tenant_id: str) -> str | None:
        row = await self._db.fetchrow("SELECT name FROM tenants WHERE tenant_id = $1", tenant_id)
        return None if row is None else str(row["name"])
