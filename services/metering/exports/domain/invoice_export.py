"""Invoices as JSON and CSV for people and external billing systems.

Both are stable: keys and columns in a fixed order, amounts and quantities as decimal strings in plain
notation (never floats, never exponents), times ISO 8601 UTC, nulls as JSON null / empty CSV fields.
The CSV has one row per line, the invoice's own fields repeated on each, so it loads as one table.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from pricing.money import plain_decimal
from services.metering.invoicing.domain.invoice import BillingInvoice, line_document

INVOICE_CSV_COLUMNS: tuple[str, ...] = (
    "invoice_id",
    "tenant_id",
    "period",
    "status",
    "revision",
    "currency",
    "line_number",
    "kind",
    "project_id",
    "meter",
    "usage_meter",
    "gpu_model",
    "quantity",
    "unit",
    "unit_price",
    "list_amount",
    "amount",
    "adjusts_period",
    "commitment_id",
    "invoice_subtotal",
    "invoice_credit_applied",
    "invoice_total",
)


def invoice_document(invoice: BillingInvoice) -> dict[str, Any]:
    """The invoice as JSON-ready data: strings for every decimal and time."""
    return {
        "invoice_id": invoice.invoice_id,
        "tenant_id": invoice.tenant_id,
        "period": invoice.period,
        "status": invoice.status.value,
        "revision": invoice.revision,
        "replaces": invoice.replaces,
        "currency": invoice.currency,
        "lines": [line_document(line) for line in invoice.lines],
        "subtotal": plain_decimal(invoice.subtotal),
        "credit_opening": plain_decimal(invoice.credit_opening),
        "credit_applied": plain_decimal(invoice.credit_applied),
        "credit_remaining": plain_decimal(invoice.credit_remaining),
        "total": plain_decimal(invoice.total),
        "finalized_at": _time(invoice.finalized_at),
        "voided_at": _time(invoice.voided_at),
        "void_reason": invoice.void_reason,
    }


def invoice_json(invoice: BillingInvoice) -> str:
    return json.dumps(invoice_document(invoice), indent=2, ensure_ascii=False) + "\n"


def invoice_csv(*invoices: BillingInvoice) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INVOICE_CSV_COLUMNS)
    for invoice in invoices:
        for number, line in enumerate(invoice.lines, start=1):
            document = line_document(line)
            row = {
                "invoice_id": invoice.invoice_id,
                "tenant_id": invoice.tenant_id,
                "period": invoice.period,
                "status": invoice.status.value,
                "revision": str(invoice.revision),
                "currency": invoice.currency,
                "line_number": str(number),
                **{key: "" if value is None else str(value) for key, value in document.items()},
                "invoice_subtotal": plain_decimal(invoice.subtotal),
                "invoice_credit_applied": plain_decimal(invoice.credit_applied),
                "invoice_total": plain_decimal(invoice.total),
            }
            writer.writerow([row[column] for column in INVOICE_CSV_COLUMNS])
    return buffer.getvalue()


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
