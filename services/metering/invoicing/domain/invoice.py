"""The invoice: one per tenant and period, with lines per project, GPU model and meter, adjustments,
commitments and credit; its id, its status, and its lines as stored and exported documents.

Rules (continuing rating.py and the plans of pricing/price_plans.py; invoice_pricing.py applies them):

1. A usage line per (project, meter, GPU model) of the period's own usage. Its exact list amount is, per
   price-book version that priced some of it, that version's plan applied to the tenant's whole quantity
   of the meter and model under that version, split among projects in proportion to their quantity
   (per-unit plans: quantity x price directly). A new version starts new tier and block counters.
2. Committed-use discounts (pricing/commitments.py) of the version in effect at the period's last instant turn
   list amounts into net amounts and add "commitment_shortfall" lines.
3. Usage of an earlier period whose invoice was finalized lands on this invoice as "adjustment" lines
   (adjusts_period = the earlier period): per (project, meter, GPU model) the difference between that
   period priced with and without the late usage (and with earlier adjustments), shortfall included.
4. ROUNDING: every line's amount is rounded ONCE, half up (ROUND_HALF_UP), to the currency's ISO 4217
   minor units, from its exact value; nothing is rounded before. The subtotal is the sum of the rounded
   line amounts, so the lines always add up to it.
5. Prepaid credit (pricing/credits.py) is applied after the subtotal: min(balance, subtotal), never below
   zero, shown as a negative "prepaid_credit" line; total = subtotal - credit applied; the rest carries over.
6. Lines whose quantity and amount are both zero are left out; a line with usage but a zero price stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pricing.meters import MeterName
from pricing.money import plain_decimal

ADJUSTMENT_METER = "adjustment"
SHORTFALL_METER = "commitment_shortfall"
CREDIT_METER = "prepaid_credit"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    VOID = "void"  # a finalized invoice withdrawn; a replacement draft takes its place (lifecycle.py)


class LineKind(StrEnum):
    USAGE = "usage"
    ADJUSTMENT = "adjustment"
    COMMITMENT_SHORTFALL = "commitment_shortfall"
    PREPAID_CREDIT = "prepaid_credit"


@dataclass(frozen=True)
class BillingLine:
    kind: LineKind
    project_id: str | None  # None on tenant-wide lines (shortfall, credit)
    meter: str  # a MeterName value for usage; "adjustment", "commitment_shortfall" or "prepaid_credit"
    usage_meter: MeterName | None  # the metered quantity behind the line (the adjusted one on adjustments)
    gpu_model: str | None
    quantity: Decimal  # in `unit`
    unit: str
    unit_price: Decimal
    list_amount: Decimal  # before committed-use discounts, rounded like amount
    amount: Decimal  # rounded once to the currency's minor units
    adjusts_period: str | None = None  # adjustments: the finalized period whose usage this is
    commitment_id: str | None = None  # the commitment that priced or produced the line


@dataclass(frozen=True)
class BillingInvoice:
    invoice_id: str
    tenant_id: str
    period: str
    status: InvoiceStatus
    currency: str
    lines: tuple[BillingLine, ...]
    subtotal: Decimal  # sum of every line but the credit line
    credit_applied: Decimal
    total: Decimal  # subtotal - credit_applied: what the tenant pays
    credit_opening: Decimal = Decimal(0)
    credit_remaining: Decimal = Decimal(0)
    revision: int = 1  # 2, 3, ... for replacements of voided invoices
    replaces: str | None = None  # the voided invoice this one replaces
    finalized_at: datetime | None = None
    voided_at: datetime | None = None
    void_reason: str | None = None

    def lines_of(self, kind: LineKind) -> tuple[BillingLine, ...]:
        return tuple(line for line in self.lines if line.kind is kind)


def billing_invoice_id(tenant_id: str, period: str, revision: int = 1) -> str:
    """inv_<tenant>_<YYYY-MM> for the first invoice of a period; _r<N> for replacements."""
    base = f"inv_{tenant_id}_{period}"
    return base if revision == 1 else f"{base}_r{revision}"


def line_document(line: BillingLine) -> dict[str, Any]:
    """One line as JSON-ready data: how table invoices keeps it, and what the exports show."""
    return {
        "kind": line.kind.value,
        "project_id": line.project_id,
        "meter": line.meter,
        "usage_meter": line.usage_meter.value if line.usage_meter else None,
        "gpu_model": line.gpu_model,
        "quantity": plain_decimal(line.quantity),
        "unit": line.unit,
        "unit_price": plain_decimal(line.unit_price),
        "list_amount": plain_decimal(line.list_amount),
        "amount": plain_decimal(line.amount),
        "adjusts_period": line.adjusts_period,
        "commitment_id": line.commitment_id,
    }
