"""Price books: a tenant's prices, versioned by the time from which each version is in effect.

A version prices each meter per unit (gpu_hour, per_1k_tokens, per_request, per_kwh) unless `plans`
gives that meter (and, for gpu_hours, that GPU model) a tiered or package plan (price_plans.py). It may
also carry committed-use discounts (commitments.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from services.metering.domain.commitments import Commitment, commitment_problems
from services.metering.domain.errors import InvalidPrice, NoPriceForModel, PriceBookNotYetKnown
from services.metering.domain.meters import MeterName
from services.metering.domain.money import normalize_currency
from services.metering.domain.periods import as_utc
from services.metering.domain.price_plans import PerUnit, PricePlan, plan_problems, reference_unit_price

# What a plan prices: a meter, and for gpu_hours a GPU model (None for the other meters).
RateKey = tuple[MeterName, str | None]


@dataclass(frozen=True)
class PriceBook:
    tenant_id: str
    currency: str
    effective_from: datetime
    gpu_hour: Mapping[str, Decimal] = field(default_factory=dict)  # GPU model -> price per GPU-hour
    per_1k_tokens: Decimal = Decimal(0)
    per_request: Decimal = Decimal(0)
    per_kwh: Decimal = Decimal(0)
    plans: Mapping[RateKey, PricePlan] = field(default_factory=dict)  # overrides the per-unit prices
    commitments: tuple[Commitment, ...] = ()

    def validated(self) -> PriceBook:
        """This book with its currency normalized; InvalidPrice or UnknownCurrency when it is wrong."""
        prices = {f"gpu_hour[{model}]": price for model, price in self.gpu_hour.items()}
        prices |= {
            "per_1k_tokens": self.per_1k_tokens,
            "per_request": self.per_request,
            "per_kwh": self.per_kwh,
        }
        problems = [
            f"{name} is {price}" for name, price in prices.items() if not price.is_finite() or price < 0
        ]
        for (meter, gpu_model), plan in self.plans.items():
            name = f"plans[{meter.value}{'/' + gpu_model if gpu_model else ''}]"
            if (meter is MeterName.GPU_HOURS) != (gpu_model is not None):
                problems.append(f"{name}: a gpu_hours plan needs a GPU model and only gpu_hours has one")
            problems += plan_problems(plan, name)
        problems += commitment_problems(self.commitments)
        if problems:
            raise InvalidPrice(
                f"tenant {self.tenant_id}'s price book has negative or invalid prices: " + ", ".join(problems)
            )
        return PriceBook(
            tenant_id=self.tenant_id,
            currency=normalize_currency(self.currency),
            effective_from=self.effective_from,
            gpu_hour=dict(self.gpu_hour),
            per_1k_tokens=self.per_1k_tokens,
            per_request=self.per_request,
            per_kwh=self.per_kwh,
            plans=dict(self.plans),
            commitments=tuple(self.commitments),
        )

    def plan_for(self, meter: MeterName, gpu_model: str | None) -> PricePlan:
        """The meter's plan; NoPriceForModel for a GPU model this version does not price."""
        plan = self.plans.get((meter, gpu_model))
        if plan is not None:
            return plan
        match meter:
            case MeterName.GPU_HOURS:
                return PerUnit(self.gpu_hour_price(gpu_model or ""))
            case MeterName.ENERGY_KWH:
                return PerUnit(self.per_kwh)
            case MeterName.TOKENS_1K:
                return PerUnit(self.per_1k_tokens)
            case MeterName.REQUESTS:
                return PerUnit(self.per_request)
        raise ValueError(f"unknown meter {meter!r}")

    def gpu_hour_price(self, gpu_model: str) -> Decimal:
        """The per-unit price of a GPU model (a model priced only by a plan shows its reference price)."""
        price = self.gpu_hour.get(gpu_model)
        plan = self.plans.get((MeterName.GPU_HOURS, gpu_model))
        if price is None and plan is not None:
            return reference_unit_price(plan)
        if price is None:
            raise NoPriceForModel(gpu_model, self.tenant_id)
        return price


def price_book_in_effect(tenant_id: str, versions: Sequence[PriceBook], at: datetime) -> PriceBook:
    """The version in effect at `at`: the latest one whose effective_from is not after it.

    Usage from before the first version is priced with the first version, so that a price book set a
    moment after work started (or a small clock skew between services) does not leave the work unbilled.
    Versions with the same effective_from: the one given last wins.
    """
    if not versions:
        raise PriceBookNotYetKnown(tenant_id)
    ordered = sorted(versions, key=lambda book: as_utc(book.effective_from))  # stable: ties keep their order
    moment = as_utc(at)
    in_effect = [book for book in ordered if as_utc(book.effective_from) <= moment]
    return in_effect[-1] if in_effect else ordered[0]
