"""Committed-use discounts: a tenant commits to a monthly spend or quantity in exchange for a lower rate.

Rules (per billing period, on the exact list amounts of the period's usage lines, before rounding):

1. SPEND commitment (e.g. 10,000 USD a month at 20 % off): every usage line in its scope costs
   list x (1 - discount). When the discounted spend in scope is below the committed spend, the
   difference is billed as a "commitment_shortfall" line.
2. QUANTITY commitment (e.g. 1,000 GPU-hours of H100 a month at 1.80): the first `committed` units in
   scope cost the committed unit_price instead of their list price; units beyond it cost list. When the
   units are split among projects, each project's share of the committed units is proportional to its
   quantity. Unused committed units are billed as a shortfall line at the committed unit price.
3. Scope: a meter (and, for gpu_hours, a GPU model); no meter (SPEND only) covers every usage line.
   Commitments of one price-book version must not overlap, so a line is covered by one at most.
4. Late usage of a period already finalized re-prices that period with and without it (metering reprices), so
   a late unit used against a shortfall reduces the shortfall instead of being billed twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pricing.errors import Problem
from pricing.meters import MeterName
from pricing.money import EXACT, amount_problems, exact_sum

ZERO = Decimal(0)

# One invoice line's identity: project, meter and (for gpu_hours) GPU model.
LineKey = tuple[str, MeterName, str | None]


class CommitmentKind(StrEnum):
    SPEND = "spend"
    QUANTITY = "quantity"


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    kind: CommitmentKind
    committed: Decimal  # SPEND: money per period; QUANTITY: invoice units per period
    meter: MeterName | None = None  # scope; None: every usage meter (SPEND only)
    gpu_model: str | None = None  # scope within gpu_hours; None: every model
    discount: Decimal = ZERO  # SPEND: fraction off list prices (0.2 = 20 % off)
    unit_price: Decimal = ZERO  # QUANTITY: the committed price per invoice unit

    def covers(self, meter: MeterName, gpu_model: str | None) -> bool:
        if self.meter is not None and self.meter is not meter:
            return False
        return self.gpu_model is None or self.gpu_model == gpu_model

    def overlaps(self, other: Commitment) -> bool:
        meters_meet = self.meter is None or other.meter is None or self.meter is other.meter
        models_meet = self.gpu_model is None or other.gpu_model is None or self.gpu_model == other.gpu_model
        return meters_meet and models_meet


def commitment_problems(commitments: Sequence[Commitment], field: str = "commitments") -> list[Problem]:
    """What is wrong with a price book's commitments, each problem under `field[index]`."""
    problems: list[Problem] = []
    for index, c in enumerate(commitments):
        name = f"{field}[{index}]"
        if not c.commitment_id.strip():
            problems.append(Problem(f"{name}.commitment_id", "must not be blank"))
        if not c.committed.is_finite() or c.committed <= 0:
            problems.append(Problem(f"{name}.committed", f"must be positive, not {c.committed}"))
        if c.kind is CommitmentKind.SPEND and not (c.discount.is_finite() and 0 <= c.discount <= 1):
            problems.append(Problem(f"{name}.discount", f"must be a fraction from 0 to 1, not {c.discount}"))
        if c.kind is CommitmentKind.QUANTITY:
            if c.meter is None:
                problems.append(Problem(f"{name}.meter", "a quantity commitment needs a meter"))
            problems += amount_problems(c.unit_price, f"{name}.unit_price")
        if c.gpu_model is not None and c.meter not in (None, MeterName.GPU_HOURS):
            problems.append(Problem(f"{name}.gpu_model", "only gpu_hours has GPU models"))
        problems += [
            Problem(name, f"covers the same usage as {field}[{other}] ({earlier.commitment_id})")
            for other, earlier in enumerate(commitments[:index])
            if earlier.overlaps(c)
        ]
    return problems


@dataclass(frozen=True)
class Shortfall:
    commitment: Commitment
    quantity: Decimal | None  # unused committed units (QUANTITY), None for SPEND
    amount: Decimal  # exact


@dataclass(frozen=True)
class CommittedPricing:
    net: dict[LineKey, Decimal]  # exact amount per line after the commitments
    shortfalls: tuple[Shortfall, ...]
    covered_by: dict[LineKey, str]  # commitment id per covered line


def apply_commitments(
    list_amounts: Mapping[LineKey, Decimal],
    quantities: Mapping[LineKey, Decimal],
    commitments: Sequence[Commitment],
) -> CommittedPricing:
    """Usage lines' exact list amounts and quantities (invoice units) -> amounts after the commitments."""
    net = dict(list_amounts)
    covered_by: dict[LineKey, str] = {}
    shortfalls: list[Shortfall] = []
    for commitment in commitments:
        keys = [key for key in list_amounts if commitment.covers(key[1], key[2])]
        covered_by |= dict.fromkeys(keys, commitment.commitment_id)
        if commitment.kind is CommitmentKind.SPEND:
            shortfall = _apply_spend(commitment, keys, net)
        else:
            shortfall = _apply_quantity(commitment, keys, quantities, net)
        if shortfall is not None:
            shortfalls.append(shortfall)
    return CommittedPricing(net=net, shortfalls=tuple(shortfalls), covered_by=covered_by)


def _apply_spend(
    commitment: Commitment, keys: list[LineKey], net: dict[LineKey, Decimal]
) -> Shortfall | None:
    keep = EXACT.subtract(Decimal(1), commitment.discount)
    for key in keys:
        net[key] = EXACT.multiply(net[key], keep)
    missing = EXACT.subtract(commitment.committed, exact_sum(net[key] for key in keys))
    return Shortfall(commitment, None, missing) if missing > 0 else None


def _apply_quantity(
    commitment: Commitment,
    keys: list[LineKey],
    quantities: Mapping[LineKey, Decimal],
    net: dict[LineKey, Decimal],
) -> Shortfall | None:
    used = exact_sum(quantities[key] for key in keys)
    covered = min(used, commitment.committed)
    for key in keys if used > 0 else []:
        # The project's share of the covered units moves from list price to the committed price
        # (multiplied before dividing, so exact halves stay exact for the one rounding).
        share = EXACT.divide(EXACT.multiply(quantities[key], covered), used)
        list_part = EXACT.divide(EXACT.multiply(net[key], covered), used)
        net[key] = EXACT.add(
            EXACT.subtract(net[key], list_part), EXACT.multiply(share, commitment.unit_price)
        )
    unused = EXACT.subtract(commitment.committed, covered)
    if unused <= 0:
        return None
    return Shortfall(commitment, unused, EXACT.multiply(unused, commitment.unit_price))
