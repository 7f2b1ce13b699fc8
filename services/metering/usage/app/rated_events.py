"""UsageRated, the billing event for external billing systems (docs/billing-events.md) that announces
rated usage: built from what rating decided, and emitted through the outbox of the transaction that
decided it (exactly once, with the decision). Budget events: budgets/app/use_cases.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pricing.meters import METERS, MeterName
from pricing.money import EXACT, QUANTITY
from services.metering.usage.domain.batch_rating import UsageCharge
from shared.events import metering as events


@dataclass(frozen=True)
class PricedQuantity:
    """A priced charge in its meter's base unit, as rating stored it."""

    project_id: str
    meter: MeterName
    gpu_model: str | None
    base_quantity: Decimal
    unit_price: Decimal


def rated_charge(charge: PricedQuantity) -> events.RatedCharge:
    """In invoice units; the amount exact (an invoice rounds once per line, not per charge)."""
    meter = METERS[charge.meter]
    divisor = Decimal(meter.base_per_unit)
    return events.RatedCharge(
        project_id=charge.project_id,
        meter=charge.meter.value,
        gpu_model=charge.gpu_model,
        quantity=QUANTITY.divide(charge.base_quantity, divisor),
        unit=meter.unit,
        unit_price=charge.unit_price,
        amount=EXACT.divide(EXACT.multiply(charge.base_quantity, charge.unit_price), divisor),
    )


def usage_rated(
    tenant_id: str,
    source_kind: str,
    source_id: str,
    period: str,
    currency: str,
    charges: Iterable[PricedQuantity],
    now: datetime,
) -> events.UsageRated | None:
    """The event for one rated source; None when nothing of it was priced (say, the idle fleet)."""
    rated = [rated_charge(charge) for charge in charges]
    if not rated:
        return None
    return events.UsageRated(
        occurred_at=now,
        tenant_id=tenant_id,
        source_kind=source_kind,
        source_id=source_id,
        period=period,
        currency=currency,
        charges=rated,
    )


def usage_batch_events(
    charges: Sequence[UsageCharge], currencies: Mapping[str, str], batch_id: str, now: datetime
) -> list[events.UsageRated]:
    """For the usage pipeline: one UsageRated per (tenant, period) of a rated batch's charges (one
    charge per project, meter, usage period and price-book version), to emit together."""
    grouped: dict[tuple[str, str], list[PricedQuantity]] = {}
    for charge in charges:
        grouped.setdefault((charge.tenant_id, charge.period), []).append(
            PricedQuantity(charge.project_id, charge.meter, None, charge.base_quantity, charge.unit_price)
        )
    rated = (
        usage_rated(tenant_id, "usage_batch", batch_id, period, currencies[tenant_id], priced, now)
        for (tenant_id, period), priced in sorted(grouped.items())
    )
    return [event for event in rated if event is not None]
