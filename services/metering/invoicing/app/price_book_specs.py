"""Price books between the wire (PriceBookSet's plans and commitments, also how they are stored) and
the domain (pricing.price_plans, pricing.commitments). The event's terms are checked by the pricing
core's one validator, the same the gateway refuses bad terms with at its edge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pricing.commitments import Commitment
from pricing.errors import InvalidPrice, raise_problems
from pricing.meters import MeterName
from pricing.price_books import commitment_of, plan_of, price_book_problems
from pricing.price_plans import Package, PerUnit, PlanKind, PricePlan, Tiered
from services.metering.invoicing.domain.price_books import PriceBook, RateKey
from shared.events.gateway import CommitmentSpec, PriceBookSet, PricePlanSpec, PriceTier


def price_book_of_event(event: PriceBookSet) -> PriceBook:
    """The event's price book, validated (InvalidPrice names every problem)."""
    problems = price_book_problems(event)
    raise_problems(problems, InvalidPrice, f"tenant {event.tenant_id}'s price book: ")
    return PriceBook(
        tenant_id=event.tenant_id,
        currency=event.currency,
        effective_from=event.effective_from or event.occurred_at,
        gpu_hour=event.gpu_hour,
        per_1k_tokens=event.per_1k_tokens,
        per_request=event.per_request,
        per_kwh=event.per_kwh,
        plans=plans_of(event.plans),
        commitments=tuple(commitment_of(spec) for spec in event.commitments),
    ).validated()


def plans_of(specs: Iterable[PricePlanSpec]) -> dict[RateKey, PricePlan]:
    return {(MeterName(spec.meter), spec.gpu_model): plan_of(spec) for spec in specs}


def plan_documents(plans: Mapping[RateKey, PricePlan]) -> list[dict[str, Any]]:
    """The plans as PricePlanSpec JSON (how price_books.plans stores them)."""
    return [
        _plan_spec(meter, gpu_model, plan).model_dump(mode="json")
        for (meter, gpu_model), plan in plans.items()
    ]


def commitment_documents(commitments: Iterable[Commitment]) -> list[dict[str, Any]]:
    return [
        CommitmentSpec(
            commitment_id=c.commitment_id,
            kind=c.kind,
            committed=c.committed,
            meter=c.meter,
            gpu_model=c.gpu_model,
            discount=c.discount,
            unit_price=c.unit_price,
        ).model_dump(mode="json")
        for c in commitments
    ]


def stored_price_book(
    tenant_id: str,
    currency: str,
    effective_from: datetime,
    per_unit: tuple[Mapping[str, Decimal], Decimal, Decimal, Decimal],
    plans: Iterable[Mapping[str, Any]],
    commitments: Iterable[Mapping[str, Any]],
) -> PriceBook:
    """A stored version read back: per-unit prices (gpu_hour, per_1k_tokens, per_request, per_kwh)."""
    gpu_hour, per_1k_tokens, per_request, per_kwh = per_unit
    return PriceBook(
        tenant_id=tenant_id,
        currency=currency,
        effective_from=effective_from,
        gpu_hour=dict(gpu_hour),
        per_1k_tokens=per_1k_tokens,
        per_request=per_request,
        per_kwh=per_kwh,
        plans=plans_of(PricePlanSpec.model_validate(plan) for plan in plans),
        commitments=tuple(commitment_of(CommitmentSpec.model_validate(c)) for c in commitments),
    )


def _plan_spec(meter: MeterName, gpu_model: str | None, plan: PricePlan) -> PricePlanSpec:
    match plan:
        case PerUnit(unit_price=price):
            return PricePlanSpec(meter=meter, gpu_model=gpu_model, kind=PlanKind.PER_UNIT, unit_price=price)
        case Package(block_size=size, block_price=price):
            return PricePlanSpec(
                meter=meter, gpu_model=gpu_model, kind=PlanKind.PACKAGE, block_size=size, block_price=price
            )
        case Tiered(tiers=tiers, mode=mode):
            return PricePlanSpec(
                meter=meter,
                gpu_model=gpu_model,
                kind=PlanKind.TIERED,
                mode=mode,
                tiers=[PriceTier(up_to=t.up_to, unit_price=t.unit_price, flat_fee=t.flat_fee) for t in tiers],
            )
    raise TypeError(f"not a price plan: {plan!r}")
