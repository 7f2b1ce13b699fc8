"""The per-unit invoice of invoice.py (no longer built by the live service, which prices with
billing_engine) as a BillingInvoice: stores still accept one, and tests set up invoices that way.

Such an invoice has usage lines only, no commitments and no prepaid credit: each line is a "usage" line
whose list amount is its amount, the subtotal is the total and no credit is applied.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from services.metering.domain.billing import BillingInvoice, BillingLine, LineKind
from services.metering.domain.invoice import Invoice, InvoiceLine


def billing_invoice_of(invoice: Invoice, finalized_at: datetime | None = None) -> BillingInvoice:
    return BillingInvoice(
        invoice_id=invoice.invoice_id,
        tenant_id=invoice.tenant_id,
        period=invoice.period,
        status=invoice.status,
        currency=invoice.currency,
        lines=tuple(_billing_line(line) for line in invoice.lines),
        subtotal=invoice.total,
        credit_applied=Decimal(0),
        total=invoice.total,
        finalized_at=finalized_at,
    )


def _billing_line(line: InvoiceLine) -> BillingLine:
    return BillingLine(
        kind=LineKind.USAGE,
        project_id=line.project_id,
        meter=line.meter.value,
        usage_meter=line.meter,
        gpu_model=line.gpu_model,
        quantity=line.quantity,
        unit=line.unit,
        unit_price=line.unit_price,
        list_amount=line.amount,
        amount=line.amount,
    )
