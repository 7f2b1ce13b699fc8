"""Price books between the wire (PriceBookSet's plans and commitments, also how they are stored) and
the domain (price_plans.py, commitments.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.metering.domain.commitments import Commitment, CommitmentKind
from services.metering.domain.errors import InvalidPrice
from services.metering.domain.meters import MeterName
from services.metering.domain.price_plans import Package, PerUnit, PricePlan, Tier, Tiered, TierMode
from services.metering.domain.pricing import PriceBook, RateKey
from shared.events.gateway import CommitmentSpec, PriceBookSet, PricePlanSpec


def price_book_of_event(event: PriceBookSet) -> PriceBook:
    """The event's price book, validated (InvalidPrice says what is wrong)."""
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
    plans: dict[RateKey, PricePlan] = {}
    for index, spec in enumerate(specs):
        key = (MeterName(spec.meter), spec.gpu_model)
        if key in plans:
            raise InvalidPrice(f"plans[{index}] prices {spec.meter} {spec.gpu_model or ''} a second time")
        plans[key] = plan_of(spec, f"plans[{index}]")
    return plans


def plan_of(spec: PricePlanSpec, name: str) -> PricePlan:
    match spec.kind:
        case "per_unit":
            return PerUnit(_required(spec.unit_price, f"{name}.unit_price"))
        case "package":
            return Package(
                _required(spec.block_size, f"{name}.block_size"),
                _required(spec.block_price, f"{name}.block_price"),
            )
    tiers = tuple(Tier(t.up_to, t.unit_price, t.flat_fee) for t in spec.tiers)
    return Tiered(tiers, TierMode(spec.mode))


def commitment_of(spec: CommitmentSpec) -> Commitment:
    return Commitment(
        commitment_id=spec.commitment_id,
        kind=CommitmentKind(spec.kind),
        committed=spec.committed,
        meter=MeterName(spec.meter) if spec.meter else None,
        gpu_model=spec.gpu_model,
        discount=spec.discount,
        unit_price=spec.unit_price,
    )


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
            kind=c.kind.value,  # type: ignore[arg-type]
            committed=c.committed,
            meter=c.meter.value if c.meter else None,  # type: ignore[arg-type]
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
    common: dict[str, Any] = {"meter": meter.value, "gpu_model": gpu_model}
    match plan:
        case PerUnit(unit_price=price):
            return PricePlanSpec(kind="per_unit", unit_price=price, **common)
        case Package(block_size=size, block_price=price):
            return PricePlanSpec(kind="package", block_size=size, block_price=price, **common)
        case Tiered(tiers=tiers, mode=mode):
            return PricePlanSpec.model_validate(
                {
                    "kind": "tiered",
                    "mode": mode.value,
                    "tiers": [
                        {"up_to": t.up_to, "unit_price": t.unit_price, "flat_fee": t.flat_fee} for t in tiers
                    ],
                    **common,
                }
            )
    raise TypeError(f"not a price plan: {plan!r}")


def _required(value: Decimal | None, name: str) -> Decimal:
    if value is None:
        raise InvalidPrice(f"{name} is missing")
    return value
