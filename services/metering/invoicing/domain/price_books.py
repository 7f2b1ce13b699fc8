"""Price books: a tenant's prices, versioned by the time from which each version is in effect.

A version prices each meter per unit (gpu_hour, per_1k_tokens, per_request, per_kwh) unless `plans`
gives that meter (and, for gpu_hours, that GPU model) a tiered or package plan (pricing.price_plans). It
may also carry committed-use discounts (pricing.commitments). The rules are the pricing core's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pricing.commitments import Commitment, commitment_problems
from pricing.errors import InvalidPrice, raise_problems
from pricing.meters import MeterName
from pricing.money import currency_problems
from pricing.periods import as_utc
from pricing.price_books import rate_key_problems, unit_price_problems
from pricing.price_plans import PerUnit, PricePlan, plan_problems, reference_unit_price
from services.metering.domain.errors import NoPriceForModel, PriceBookNotYetKnown

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
        """This book, copied; InvalidPrice naming every problem when it breaks a rule."""
        problems = currency_problems(self.currency)
        problems += unit_price_problems(self.gpu_hour, self.per_1k_tokens, self.per_request, self.per_kwh)
        for (meter, gpu_model), plan in self.plans.items():
            name = f"plans[{meter.value}{'/' + gpu_model if gpu_model else ''}]"
            problems += rate_key_problems(meter, gpu_model, name) + plan_problems(plan, name)
        problems += commitment_problems(self.commitments)
        raise_problems(problems, InvalidPrice, f"tenant {self.tenant_id}'s price book: ")
        return PriceBook(
            tenant_id=self.tenant_id,
            currency=self.currency,
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
