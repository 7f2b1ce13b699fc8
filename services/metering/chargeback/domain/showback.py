"""Chargeback and showback per project: what each project's GPU use cost the fleet, idle GPUs included.

Rules:
1. idle GPU-seconds = capacity - the projects' used GPU-seconds, and never below zero: a fleet used at or
   beyond its capacity (overlapping intervals, clock skew) has no idle cost, never a negative one.
2. A project's usage cost = used GPU-seconds x the fleet's rate per GPU-hour / 3600; the idle cost =
   idle GPU-seconds x the idle rate (the fleet rate unless given) / 3600. Each is rounded once, half up,
   to the currency's minor units.
3. IdleCostMode.SHARED: the idle cost is shared among the projects in proportion to their used
   GPU-seconds, in whole minor units by largest remainder (ties to the lower project id), so the
   shares add up exactly to the idle cost. With no usage at all there is nobody to share it with: it is
   shown as its own line, as in SEPARATE_LINE.
4. IdleCostMode.SEPARATE_LINE: the idle cost is one "idle" line of its own; projects carry none of it.
5. The report's total is the usage costs plus the idle cost, whatever the mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from pricing.money import EXACT, exact_sum, minor_units, normalize_currency, round_money
from services.metering.domain.errors import InvalidChargebackInput

ZERO = Decimal(0)
SECONDS_PER_HOUR = Decimal(3600)


class IdleCostMode(StrEnum):
    SHARED = "shared"
    SEPARATE_LINE = "separate_line"


@dataclass(frozen=True)
class ProjectCharge:
    project_id: str
    used_gpu_seconds: Decimal
    usage_cost: Decimal
    idle_share: Decimal
    total: Decimal


@dataclass(frozen=True)
class Showback:
    currency: str
    mode: IdleCostMode
    capacity_gpu_seconds: Decimal
    used_gpu_seconds: Decimal
    idle_gpu_seconds: Decimal
    idle_cost: Decimal
    projects: tuple[ProjectCharge, ...]  # by project id
    idle_line: Decimal  # the idle cost shown on its own line (zero when shared out)
    total: Decimal


def showback(
    capacity_gpu_seconds: Decimal,
    used_by_project: Mapping[str, Decimal],
    gpu_hour_rate: Decimal,
    currency: str,
    mode: IdleCostMode = IdleCostMode.SHARED,
    idle_gpu_hour_rate: Decimal | None = None,
) -> Showback:
    currency = normalize_currency(currency)
    idle_rate = gpu_hour_rate if idle_gpu_hour_rate is None else idle_gpu_hour_rate
    _check_inputs(capacity_gpu_seconds, used_by_project, gpu_hour_rate, idle_rate)
    used = exact_sum(used_by_project.values())
    idle_seconds = max(ZERO, EXACT.subtract(capacity_gpu_seconds, used))
    idle_cost = _cost(idle_seconds, idle_rate, currency)
    share_idle = mode is IdleCostMode.SHARED and used > 0
    shares = _largest_remainder(idle_cost, used_by_project, currency) if share_idle else {}
    projects = tuple(
        _project_charge(project_id, seconds, gpu_hour_rate, shares.get(project_id, ZERO), currency)
        for project_id, seconds in sorted(used_by_project.items())
    )
    idle_line = ZERO if share_idle else idle_cost
    return Showback(
        currency=currency,
        mode=mode,
        capacity_gpu_seconds=capacity_gpu_seconds,
        used_gpu_seconds=used,
        idle_gpu_seconds=idle_seconds,
        idle_cost=idle_cost,
        projects=projects,
        idle_line=idle_line,
        total=exact_sum(p.total for p in projects) + idle_line,
    )


def _project_charge(
    project_id: str, seconds: Decimal, rate: Decimal, idle_share: Decimal, currency: str
) -> ProjectCharge:
    usage_cost = _cost(seconds, rate, currency)
    return ProjectCharge(project_id, seconds, usage_cost, idle_share, usage_cost + idle_share)


def _cost(gpu_seconds: Decimal, rate: Decimal, currency: str) -> Decimal:
    return round_money(EXACT.divide(EXACT.multiply(gpu_seconds, rate), SECONDS_PER_HOUR), currency)


def _largest_remainder(amount: Decimal, weights: Mapping[str, Decimal], currency: str) -> dict[str, Decimal]:
    quantum = Decimal(1).scaleb(-minor_units(currency))
    units = int(EXACT.divide(amount, quantum))
    total_weight = exact_sum(weights.values())
    exact = {p: EXACT.divide(EXACT.multiply(Decimal(units), w), total_weight) for p, w in weights.items()}
    floors = {p: int(share.to_integral_value(rounding=ROUND_FLOOR)) for p, share in exact.items()}
    left = units - sum(floors.values())
    by_remainder = sorted(exact, key=lambda p: (-(exact[p] - floors[p]), p))
    for project_id in by_remainder[:left]:
        floors[project_id] += 1
    return {p: EXACT.multiply(Decimal(n), quantum) for p, n in floors.items()}


def _check_inputs(capacity: Decimal, used: Mapping[str, Decimal], rate: Decimal, idle_rate: Decimal) -> None:
    values = {"capacity_gpu_seconds": capacity, "gpu_hour_rate": rate, "idle_gpu_hour_rate": idle_rate}
    values |= {f"used_gpu_seconds[{project}]": seconds for project, seconds in used.items()}
    problems = [f"{name} is {value}" for name, value in values.items() if not value.is_finite() or value < 0]
    if problems:
        raise InvalidChargebackInput("chargeback needs non-negative numbers: " + ", ".join(problems))
