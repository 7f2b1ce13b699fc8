"""A price book's terms as a tenant sets them (the gateway's request, the PriceBookSet event): what is
wrong with them, field by field, and the plans and commitments they describe.

The terms are read through Protocols, so the gateway's command and the event (pydantic models) are
checked as they are, by the same rules metering prices with (price_plans.py, commitments.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from pricing.commitments import Commitment, CommitmentKind, commitment_problems
from pricing.errors import InvalidPrice, Problem, raise_problems
from pricing.meters import MeterName, gpu_model_problems
from pricing.money import amount_problems, currency_problems
from pricing.price_plans import Package, PerUnit, PlanKind, PricePlan, Tier, Tiered, TierMode, plan_problems

_METERS = set(MeterName)


class TierTerms(Protocol):
    @property
    def up_to(self) -> Decimal | None: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def flat_fee(self) -> Decimal: ...


class PlanTerms(Protocol):
    """A meter's (for gpu_hours: a GPU model's) plan: per_unit, tiered or package."""

    @property
    def meter(self) -> str: ...
    @property
    def gpu_model(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def unit_price(self) -> Decimal | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def tiers(self) -> Sequence[TierTerms]: ...
    @property
    def block_size(self) -> Decimal | None: ...
    @property
    def block_price(self) -> Decimal | None: ...


class CommitmentTerms(Protocol):
    @property
    def commitment_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def committed(self) -> Decimal: ...
    @property
    def meter(self) -> str | None: ...
    @property
    def gpu_model(self) -> str | None: ...
    @property
    def discount(self) -> Decimal: ...
    @property
    def unit_price(self) -> Decimal: ...


class PriceBookTerms(Protocol):
    @property
    def currency(self) -> str | None: ...  # None: the tenant's
    @property
    def gpu_hour(self) -> Mapping[str, Decimal]: ...
    @property
    def per_1k_tokens(self) -> Decimal: ...
    @property
    def per_request(self) -> Decimal: ...
    @property
    def per_kwh(self) -> Decimal: ...
    @property
    def plans(self) -> Sequence[PlanTerms]: ...
    @property
    def commitments(self) -> Sequence[CommitmentTerms]: ...


def price_book_problems(book: PriceBookTerms) -> list[Problem]:
    """Everything wrong with a price book's terms: currency, GPU models, prices, plans, commitments."""
    problems = [] if book.currency is None else currency_problems(book.currency)
    problems += unit_price_problems(book.gpu_hour, book.per_1k_tokens, book.per_request, book.per_kwh)
    problems += plan_terms_problems(book.plans)
    problems += commitment_terms_problems(book.commitments)
    return problems


def unit_price_problems(
    gpu_hour: Mapping[str, Decimal], per_1k_tokens: Decimal, per_request: Decimal, per_kwh: Decimal
) -> list[Problem]:
    """The per-unit prices: GPU model names, and every price a finite amount of 0 or more."""
    problems = gpu_model_problems("gpu_hour", gpu_hour)
    prices = {f"gpu_hour.{model}": price for model, price in gpu_hour.items()} | {
        "per_1k_tokens": per_1k_tokens,
        "per_request": per_request,
        "per_kwh": per_kwh,
    }
    for field, price in prices.items():
        problems += amount_problems(price, field)
    return problems


def rate_key_problems(meter: str, gpu_model: str | None, field: str) -> list[Problem]:
    """What a plan prices: a meter, and for gpu_hours (only) a GPU model."""
    if meter not in _METERS:
        return [Problem(f"{field}.meter", f"{meter!r} is not a meter")]
    if (meter == MeterName.GPU_HOURS) != (gpu_model is not None):
        return [Problem(f"{field}.gpu_model", "a gpu_hours plan needs a GPU model; other meters have none")]
    return []


def plan_terms_problems(plans: Sequence[PlanTerms], field: str = "plans") -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str | None]] = set()
    for index, terms in enumerate(plans):
        name = f"{field}[{index}]"
        problems += rate_key_problems(terms.meter, terms.gpu_model, name)
        if (terms.meter, terms.gpu_model) in seen:
            model = f" {terms.gpu_model}" if terms.gpu_model else ""
            problems.append(Problem(name, f"{terms.meter}{model} already has a plan"))
        seen.add((terms.meter, terms.gpu_model))
        missing = _missing_plan_terms(terms, name)
        problems += missing or plan_problems(plan_of(terms), name)
    return problems


def _missing_plan_terms(terms: PlanTerms, name: str) -> list[Problem]:
    match terms.kind:
        case PlanKind.PER_UNIT:
            required = {"unit_price": terms.unit_price}
        case PlanKind.PACKAGE:
            required = {"block_size": terms.block_size, "block_price": terms.block_price}
        case PlanKind.TIERED:
            if terms.mode not in set(TierMode):
                return [Problem(f"{name}.mode", f"{terms.mode!r} is not graduated or volume")]
            return []
        case _:
            return [Problem(f"{name}.kind", f"{terms.kind!r} is not one of {', '.join(PlanKind)}")]
    return [Problem(f"{name}.{key}", "is required") for key, value in required.items() if value is None]


def plan_of(terms: PlanTerms) -> PricePlan:
    """The plan the terms describe; InvalidPrice when a term it needs is missing (see plan_terms_problems)."""
    raise_problems(_missing_plan_terms(terms, "plan"), InvalidPrice)
    match terms.kind:
        case PlanKind.PER_UNIT:
            assert terms.unit_price is not None
            return PerUnit(terms.unit_price)
        case PlanKind.PACKAGE:
            assert terms.block_size is not None and terms.block_price is not None
            return Package(terms.block_size, terms.block_price)
    tiers = tuple(Tier(t.up_to, t.unit_price, t.flat_fee) for t in terms.tiers)
    return Tiered(tiers, TierMode(terms.mode))


def commitment_terms_problems(
    commitments: Sequence[CommitmentTerms], field: str = "commitments"
) -> list[Problem]:
    problems: list[Problem] = []
    for index, terms in enumerate(commitments):
        name = f"{field}[{index}]"
        if terms.kind not in set(CommitmentKind):
            problems.append(Problem(f"{name}.kind", f"{terms.kind!r} is not spend or quantity"))
        if terms.meter is not None and terms.meter not in _METERS:
            problems.append(Problem(f"{name}.meter", f"{terms.meter!r} is not a meter"))
    return problems or commitment_problems([commitment_of(terms) for terms in commitments], field)


def commitment_of(terms: CommitmentTerms) -> Commitment:
    return Commitment(
        commitment_id=terms.commitment_id,
        kind=CommitmentKind(terms.kind),
        committed=terms.committed,
        meter=MeterName(terms.meter) if terms.meter else None,
        gpu_model=terms.gpu_model,
        discount=terms.discount,
        unit_price=terms.unit_price,
    )
