"""Price plans: how a quantity of one meter becomes money, exactly, before the one rounding per line.

Quantities are in invoice units (GPU-hours, kWh, 1k tokens, requests); amounts are exact (the EXACT
context of money.py) and are rounded only once, per invoice line (by metering's invoicing).

- PerUnit: quantity x unit_price.
- Tiered, GRADUATED: each unit is priced at the tier it falls in (the first 100 GPU-hours at 3.00, the
  next at 2.50, ...); a tier's flat fee is charged once when any unit falls in that tier.
- Tiered, VOLUME: every unit is priced at the one tier that the whole quantity reaches; that tier's flat
  fee is charged once. (Volume pricing can make 101 units cheaper than 100: that is the model.)
- Package: per started block of `block_size` units at `block_price`; a partial block costs a whole block.

A tier's `up_to` is its inclusive upper bound in invoice units; the last tier has none. Zero quantity
costs nothing (no flat fee either). Tier and block counters run over a tenant's whole quantity of one
meter and GPU model in one billing period and price-book version (metering splits it among projects).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from pricing.errors import Problem
from pricing.money import EXACT, amount_problems

ZERO = Decimal(0)


class PlanKind(StrEnum):
    PER_UNIT = "per_unit"
    TIERED = "tiered"
    PACKAGE = "package"


class TierMode(StrEnum):
    GRADUATED = "graduated"
    VOLUME = "volume"


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None  # inclusive upper bound in invoice units; None: no bound (the last tier)
    unit_price: Decimal
    flat_fee: Decimal = ZERO


@dataclass(frozen=True)
class PerUnit:
    unit_price: Decimal


@dataclass(frozen=True)
class Tiered:
    tiers: tuple[Tier, ...]
    mode: TierMode = TierMode.GRADUATED


@dataclass(frozen=True)
class Package:
    block_size: Decimal  # invoice units per block
    block_price: Decimal


PricePlan = PerUnit | Tiered | Package


def plan_cost(plan: PricePlan, quantity: Decimal) -> Decimal:
    """The exact cost of `quantity` invoice units under the plan."""
    if quantity <= 0:
        return ZERO
    match plan:
        case PerUnit(unit_price=price):
            return EXACT.multiply(quantity, price)
        case Package(block_size=size, block_price=price):
            blocks = EXACT.divide(quantity, size).to_integral_value(rounding=ROUND_CEILING, context=EXACT)
            return EXACT.multiply(blocks, price)
        case Tiered(tiers=tiers, mode=TierMode.VOLUME):
            tier = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
            return EXACT.add(EXACT.multiply(quantity, tier.unit_price), tier.flat_fee)
        case Tiered(tiers=tiers):
            return _graduated_cost(tiers, quantity)
    raise TypeError(f"not a price plan: {plan!r}")


def _graduated_cost(tiers: tuple[Tier, ...], quantity: Decimal) -> Decimal:
    cost, lower = ZERO, ZERO
    for tier in tiers:
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        if upper <= lower:
            break
        units = EXACT.subtract(upper, lower)
        cost = EXACT.add(cost, EXACT.add(EXACT.multiply(units, tier.unit_price), tier.flat_fee))
        lower = upper
    return cost


def reference_unit_price(plan: PricePlan) -> Decimal:
    """The price shown beside a line when the plan has no single one: the first tier's, or a block's
    price per unit."""
    match plan:
        case PerUnit(unit_price=price):
            return price
        case Package(block_size=size, block_price=price):
            return EXACT.divide(price, size)
        case Tiered(tiers=tiers):
            return tiers[0].unit_price
    raise TypeError(f"not a price plan: {plan!r}")


def plan_problems(plan: PricePlan, field: str) -> list[Problem]:
    """What is wrong with the plan, each problem under `field` (say `plans[0]`); empty when it is valid."""
    match plan:
        case PerUnit(unit_price=price):
            return amount_problems(price, f"{field}.unit_price")
        case Package(block_size=size, block_price=price):
            problems = amount_problems(price, f"{field}.block_price")
            if not size.is_finite() or size <= 0:
                problems.append(Problem(f"{field}.block_size", f"must be a positive quantity, not {size}"))
            return problems
        case Tiered(tiers=tiers):
            return _tier_problems(tiers, field)
    return [Problem(field, f"is not a price plan: {plan!r}")]


def _tier_problems(tiers: tuple[Tier, ...], field: str) -> list[Problem]:
    if not tiers:
        return [Problem(f"{field}.tiers", "a tiered plan needs at least one tier")]
    problems: list[Problem] = []
    previous = ZERO
    for index, tier in enumerate(tiers):
        label = f"{field}.tiers[{index}]"
        problems += amount_problems(tier.unit_price, f"{label}.unit_price")
        problems += amount_problems(tier.flat_fee, f"{label}.flat_fee")
        last = index == len(tiers) - 1
        if last and tier.up_to is not None:
            problems.append(Problem(f"{label}.up_to", "the last tier has no upper bound (null)"))
        elif not last and tier.up_to is None:
            problems.append(Problem(f"{label}.up_to", "only the last tier may have no upper bound"))
        elif tier.up_to is not None:
            if not tier.up_to.is_finite() or tier.up_to <= previous:
                problems.append(Problem(f"{label}.up_to", f"must be above {previous}, not {tier.up_to}"))
            else:
                previous = tier.up_to
    return problems
