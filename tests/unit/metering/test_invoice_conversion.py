"""The live invoice as the billing engine's invoice, so that the JSON, CSV and FOCUS exports serve it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

from services.metering.domain.billing import LineKind
from services.metering.domain.focus_export import FOCUS_COLUMNS, FocusContext, focus_csv
from services.metering.domain.invoice import Invoice, InvoiceStatus, build_invoice
from services.metering.domain.invoice_conversion import billing_invoice_of
from services.metering.domain.invoice_export import invoice_csv, invoice_json
from services.metering.domain.meters import MeterName
from services.metering.domain.rating import Charge
from tests.unit.metering.builders import at

FINALIZED_AT = datetime(2026, 2, 1, 0, 5, tzinfo=UTC)


def live_invoice(status: InvoiceStatus = InvoiceStatus.DRAFT) -> Invoice:
    charges = [
        Charge("vision", MeterName.GPU_HOURS, Decimal(7200), Decimal("2.50"), at(0), "H100"),
        Charge("vision", MeterName.GPU_HOURS, Decimal(1800), Decimal("1.10"), at(0), "A100"),
        Charge("speech", MeterName.REQUESTS, Decimal(3), Decimal("0.015"), at(0), None),
    ]
    return build_invoice("acme", "2026-01", "USD", charges, status)


def test_every_live_line_becomes_a_usage_line_with_its_amounts() -> None:
    invoice = live_invoice(InvoiceStatus.FINALIZED)

    converted = billing_invoice_of(invoice, FINALIZED_AT)

    assert (converted.invoice_id, converted.tenant_id, converted.period, converted.currency) == (
        "inv_acme_2026-01",
        "acme",
        "2026-01",
        "USD",
    )
    assert (converted.status, converted.finalized_at) == (InvoiceStatus.FINALIZED, FINALIZED_AT)
    assert [(ln.kind, ln.project_id, ln.usage_meter, ln.gpu_model, ln.amount) for ln in converted.lines] == [
        (LineKind.USAGE, line.project_id, line.meter, line.gpu_model, line.amount) for line in invoice.lines
    ]
    assert all(line.list_amount == line.amount for line in converted.lines)
    assert (converted.subtotal, converted.credit_applied, converted.total) == (
        Decimal("5.60"),  # 5.00 + 0.55 + 0.045 rounded half up to 0.05
        Decimal(0),
        Decimal("5.60"),
    )


def test_the_converted_invoice_exports_as_json_csv_and_focus_summing_to_its_total() -> None:
    converted = billing_invoice_of(live_invoice())

    document = json.loads(invoice_json(converted))
    rows = list(csv.DictReader(io.StringIO(invoice_csv(converted))))
    focus = list(csv.DictReader(io.StringIO(focus_csv([converted], {"acme": FocusContext("Acme Inc")}))))

    assert (document["total"], len(document["lines"])) == ("5.60", 3)
    assert [row["amount"] for row in rows] == ["0.05", "0.55", "5.00"]  # speech, then vision A100, H100
    assert set(FOCUS_COLUMNS) <= set(focus[0])
    assert len(focus) == 3
    assert sum(Decimal(row["BilledCost"]) for row in focus) == converted.total
    assert {row["BillingAccountName"] for row in focus} == {"Acme Inc"}
