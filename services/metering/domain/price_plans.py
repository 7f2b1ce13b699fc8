"""Price plans: how a quantity of one meter becomes money, exactly, before the one rounding per line.

Quantities are in invoice units (GPU-hours, kWh, 1k tokens, requests); amounts are exact (the EXACT
context of money.py) and are rounded only once, per invoice line (billing.py).

- PerUnit: quantity x unit_price.
- Tiered, GRADUATED: each unit is priced at the tier it falls in (the first 100 GPU-hours at 3.00, the
  next at 2.50, ...); a tier's flat fee is charged once when any unit falls in that tier.
- Tiered, VOLUME: every unit is priced at the one tier that the whole quantity reaches; that tier's flat
  fee is charged once. (Volume pricing can make 101 units cheaper than 100: that is the model.)
- Package: per started block of `block_size` units at `block_price`; a partial block costs a whole block.

A tier's `up_to` is its inclusive upper bound in invoice units; the last tier has none. Zero quantity
costs nothing (no flat fee either). Tier and block counters run over a tenant's whole quantity of one
meter and GPU model in one billing period and price-book version (billing.py splits it among projects).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from services.metering.domain.money import EXACT

ZERO = Decimal(0)


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


def plan_problems(plan: PricePlan, name: str) -> list[str]:
    """What is wrong with the plan, each naming `name`; empty when it is valid."""
    match plan:
        case PerUnit(unit_price=price):
            return _negative(f"{name}.unit_price", price)
        case Package(block_size=size, block_price=price):
            problems = _negative(f"{name}.block_price", price)
            if not size.is_finite() or size <= 0:
                problems.append(f"{name}.block_size must be positive, got {size}")
            return problems
        case Tiered(tiers=tiers):
            return _tier_problems(tiers, name)
    return [f"{name} is not a price plan: {plan!r}"]


def _tier_problems(tiers: tuple[Tier, ...], name: str) -> list[str]:
    if not tiers:
        return [f"{name} has no tiers"]
    problems: list[str] = []
    previous = ZERO
    for index, tier in enumerate(tiers):
        label = f"{name}.tiers[{index}]"
        problems += _negative(f"{label}.unit_price", tier.unit_price)
        problems += _negative(f"{label}.flat_fee", tier.flat_fee)
        last = index == len(tiers) - 1
        if tier.up_to is None and not last:
            problems.append(f"{label} has no upper bound but is not the last tier")
        elif tier.up_to is not None and last:
            problems.append(f"{label} is the last tier and must have no upper bound")
        elif tier.up_to is not None:
            if not tier.up_to.is_finite() or tier.up_to <= previous:
                problems.append(f"{label}.up_to must be above {previous}, got {tier.up_to}")
            else:
                previous = tier.up_to
    return problems


def _negative(name: str, value: Decimal) -> list[str]:
    return [f"{name} is {value}"] if not value.is_finite() or value < 0 else []
