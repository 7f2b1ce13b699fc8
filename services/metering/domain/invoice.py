"""Invoice building: one invoice per tenant and period, rebuilt from its rated charges.

Rules (continuing services/metering/domain/rating.py):

1. invoice_id = "inv_<tenant>_<YYYY-MM>".
2. One line per (project_id, meter, gpu_model) (gpu_model only for "gpu_hours"):
   quantity = total base quantity / base units per invoice unit, exact in Python's default decimal
   context: GPU-seconds / 3600 ("GPU-hour"), joules / 3,600,000 ("kWh"), tokens / 1000 ("1k tokens"),
   requests / 1 ("requests").
   amount = sum over the charges of quantity_i x unit_price_i, rounded ONCE per line, half up, to the
   currency's minor units (ISO 4217: USD and EUR 2, JPY 0, ...).
   unit_price = the price of the line's most recently priced charge (the current price, when a price
   book changed within the period).
3. Lines whose quantity is zero are left out; a line with a zero price but usage stays.
4. total = sum of the line amounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from services.metering.domain.meters import METER_ORDER, METERS, MeterName
from services.metering.domain.money import EXACT, QUANTITY, exact_sum, round_money
from services.metering.domain.periods import as_utc
from services.metering.domain.rating import Charge


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    VOID = "void"  # a finalized invoice withdrawn; a replacement draft takes its place (invoice_lifecycle.py)


@dataclass(frozen=True)
class InvoiceLine:
    project_id: str
    meter: MeterName
    gpu_model: str | None
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    tenant_id: str
    period: str
    status: InvoiceStatus
    currency: str
    lines: tuple[InvoiceLine, ...]
    total: Decimal


def invoice_id_for(tenant_id: str, period: str) -> str:
    return f"inv_{tenant_id}_{period}"


LineKey = tuple[str, MeterName, str | None]


def build_invoice(
    tenant_id: str,
    period: str,
    currency: str,
    charges: Iterable[Charge],
    status: InvoiceStatus = InvoiceStatus.DRAFT,
) -> Invoice:
    grouped: dict[LineKey, list[_Priced]] = {}
    for charge in charges:
        if charge.unit_price is None:
            raise ValueError(f"an unpriced charge of project {charge.project_id} cannot be invoiced")
        gpu_model = charge.gpu_model if charge.meter is MeterName.GPU_HOURS else None
        priced = _Priced(charge.base_quantity, charge.unit_price, as_utc(charge.priced_at))
        grouped.setdefault((charge.project_id, charge.meter, gpu_model), []).append(priced)
    lines = [
        line
        for key in sorted(grouped, key=_line_order)
        if (line := _build_line(key, grouped[key], currency)).quantity != 0
    ]
    total = round_money(exact_sum(line.amount for line in lines), currency)
    return Invoice(
        invoice_id=invoice_id_for(tenant_id, period),
        tenant_id=tenant_id,
        period=period,
        status=status,
        currency=currency,
        lines=tuple(lines),
        total=total,
    )


def _line_order(key: LineKey) -> tuple[str, int, str]:
    project_id, meter, gpu_model = key
    return project_id, METER_ORDER[meter], gpu_model or ""


@dataclass(frozen=True)
class _Priced:
    base_quantity: Decimal
    unit_price: Decimal
    priced_at: datetime


def _build_line(key: LineKey, charges: list[_Priced], currency: str) -> InvoiceLine:
    project_id, meter_name, gpu_model = key
    meter = METERS[meter_name]
    divisor = Decimal(meter.base_per_unit)
    base_total = exact_sum(c.base_quantity for c in charges)
    priced_total = exact_sum(EXACT.multiply(c.base_quantity, c.unit_price) for c in charges)
    # On equal times the higher price shows, so the choice does not depend on the charges' order.
    latest = max(charges, key=lambda c: (c.priced_at, c.unit_price))
    return InvoiceLine(
        project_id=project_id,
        meter=meter_name,
        gpu_model=gpu_model,
        quantity=QUANTITY.divide(base_total, divisor),
        unit=meter.unit,
        unit_price=latest.unit_price,
        amount=round_money(EXACT.divide(priced_total, divisor), currency),
    )
