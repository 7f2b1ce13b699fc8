"""Table invoices' rows and the invoices of invoice.py, both ways.

Lines are kept as the JSON documents invoice.line_document makes of them;
rows written before the invoice pricing engine went live have usage lines only (no "kind"), and read back as such.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from pricing.meters import MeterName
from services.metering.invoicing.domain.invoice import BillingInvoice, BillingLine, InvoiceStatus, LineKind


def line_of_document(document: dict[str, Any]) -> BillingLine:
    kind = LineKind(document.get("kind", LineKind.USAGE.value))
    usage_meter = document.get("usage_meter")
    if usage_meter is None and kind is LineKind.USAGE:
        usage_meter = document["meter"]  # an older row: its meter is the usage meter
    amount = Decimal(document["amount"])
    return BillingLine(
        kind=kind,
        project_id=document.get("project_id"),
        meter=document["meter"],
        usage_meter=MeterName(usage_meter) if usage_meter else None,
        gpu_model=document.get("gpu_model"),
        quantity=Decimal(document["quantity"]),
        unit=document["unit"],
        unit_price=Decimal(document["unit_price"]),
        list_amount=Decimal(document.get("list_amount") or amount),
        amount=amount,
        adjusts_period=document.get("adjusts_period"),
        commitment_id=document.get("commitment_id"),
    )


def billing_invoice_of_row(row: asyncpg.Record) -> BillingInvoice:
    total: Decimal = row["total"]
    credit_applied: Decimal = row["credit_applied"]
    return BillingInvoice(
        invoice_id=row["invoice_id"],
        tenant_id=row["tenant_id"],
        period=row["period"],
        status=InvoiceStatus(row["status"]),
        currency=row["currency"],
        lines=tuple(line_of_document(line) for line in row["lines"]),
        subtotal=row["subtotal"] if row["subtotal"] is not None else total + credit_applied,
        credit_applied=credit_applied,
        total=total,
        credit_opening=row["credit_opening"],
        credit_remaining=row["credit_remaining"],
        revision=row["revision"],
        replaces=row["replaces"],
        finalized_at=row["finalized_at"],
        voided_at=row["voided_at"],
        void_reason=row["void_reason"],
    )
