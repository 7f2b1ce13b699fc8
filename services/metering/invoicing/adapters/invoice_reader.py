"""Reading the live invoices (table invoices, as invoice_records.py saves them) for the exports."""

from __future__ import annotations

from collections.abc import Sequence

from services.metering.invoicing.adapters.invoice_rows import billing_invoice_of_row
from services.metering.invoicing.domain.invoice import BillingInvoice
from shared.db.pool import Database


class PgInvoiceReader:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def invoice(self, tenant_id: str, invoice_id: str) -> BillingInvoice | None:
        """The tenant's invoice (a void one too); None when there is none by that id, or it is another
        tenant's."""
        row = await self._db.fetchrow(
            "SELECT * FROM invoices WHERE tenant_id = $1 AND invoice_id = $2", tenant_id, invoice_id
        )
        return None if row is None else billing_invoice_of_row(row)

    async def invoices(self, tenant_id: str, period: str) -> Sequence[BillingInvoice]:
        """The period's invoice in force: a void one is withdrawn, its replacement carries the charges."""
        rows = await self._db.fetch(
            "SELECT * FROM invoices WHERE tenant_id = $1 AND period = $2 AND status <> 'void'",
            tenant_id,
            period,
        )
        return [billing_invoice_of_row(row) for row in rows]

    async def tenant_name(self, tenant_id: str) -> str | None:
        row = await self._db.fetchrow("SELECT name FROM tenants WHERE tenant_id = $1", tenant_id)
        return None if row is None else str(row["name"])
