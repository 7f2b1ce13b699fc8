"""Budgets per tenant or project and billing period: threshold and exhaustion decisions, and a forecast.

Rules:
1. Spend is what the period's invoice charges the scope before prepaid credit (credit pays for usage, it
   does not make it smaller): the tenant's subtotal, or the sum of one project's lines (usage and
   adjustments), as metering reads it off the period's invoice.
2. A threshold of p % is crossed when spend >= amount x p / 100. Each threshold is decided once per
   budget and period: evaluate_budget returns only thresholds not in `emitted`, lowest first; several can
   be crossed at once. Spend that falls back below a threshold does not cross it again.
3. A budget with a hard cap is exhausted when spend >= amount; BudgetExhausted is decided once per
   period (the scheduler's admission stops new work of the scope on it).
4. Forecast of the period's end spend, from the burn rate so far: spend / elapsed fraction of the
   period, where the elapsed fraction is (now - period start) / (period length), clamped to [0, 1] and
   at least one hour's worth (so that the first minutes of a month do not forecast absurd amounts).
   After the period's end the forecast is the spend itself. Rounded half up to the currency's minor units.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pricing.errors import InvalidBudget, Problem, raise_problems
from pricing.money import EXACT, currency_problems, round_money
from pricing.periods import as_utc, period_bounds, validate_period

DEFAULT_THRESHOLDS = (Decimal(50), Decimal(80), Decimal(100))
MAX_THRESHOLDS = 10
MAX_THRESHOLD_PERCENT = Decimal(1000)
MIN_BURN_WINDOW = timedelta(hours=1)


class OnExhaustion(StrEnum):
    """What running work of the scope does once a hard-capped budget is exhausted (new work waits)."""

    CONTINUE = "continue"  # running work finishes; only new work waits
    STOP = "stop"  # running work is stopped too


def budget_problems(
    amount: Decimal, currency: str | None, thresholds_percent: Sequence[Decimal]
) -> list[Problem]:
    """A budget's terms: a positive amount, an ISO 4217 currency (None: the tenant's, checked where it
    is kept), at most 10 distinct thresholds, each a percentage above 0 and at most 1000."""
    problems = []
    if not amount.is_finite() or amount <= 0:
        problems.append(Problem("amount", f"must be positive, not {amount}"))
    if currency is not None:
        problems += currency_problems(currency)
    if len(thresholds_percent) > MAX_THRESHOLDS:
        problems.append(Problem("thresholds_percent", f"at most {MAX_THRESHOLDS} thresholds"))
    problems += [
        Problem(f"thresholds_percent.{i}", f"must be a percentage above 0 and at most 1000, not {t}")
        for i, t in enumerate(thresholds_percent)
        if not t.is_finite() or not 0 < t <= MAX_THRESHOLD_PERCENT
    ]
    if len(set(thresholds_percent)) != len(thresholds_percent):
        problems.append(Problem("thresholds_percent", "thresholds repeat"))
    return problems


@dataclass(frozen=True)
class Budget:
    budget_id: str
    tenant_id: str
    project_id: str | None  # None: the tenant's whole spend
    period: str
    amount: Decimal
    currency: str
    thresholds_percent: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    hard_cap: bool = False

    def validated(self) -> Budget:
        """This budget with its thresholds sorted; InvalidBudget (or InvalidPeriod) when it is wrong."""
        problems = budget_problems(self.amount, self.currency, self.thresholds_percent)
        raise_problems(problems, InvalidBudget, f"budget {self.budget_id}: ")
        validate_period(self.period)
        return replace(self, thresholds_percent=tuple(sorted(self.thresholds_percent)))


@dataclass(frozen=True)
class BudgetForecast:
    spend: Decimal
    elapsed_fraction: Decimal
    forecast_spend: Decimal
    forecast_percent: Decimal  # of the budget's amount, two decimals


@dataclass(frozen=True)
class BudgetThresholdCrossed:
    budget_id: str
    tenant_id: str
    project_id: str | None
    period: str
    threshold_percent: Decimal
    spend: Decimal
    amount: Decimal
    currency: str
    forecast_spend: Decimal


@dataclass(frozen=True)
class BudgetExhausted:
    budget_id: str
    tenant_id: str
    project_id: str | None
    period: str
    spend: Decimal
    amount: Decimal
    currency: str


BudgetEvent = BudgetThresholdCrossed | BudgetExhausted


def standing(budget: Budget, spend: Decimal) -> dict[str, Any]:
    """What every budget event says: which budget, for which period, its amount and the spend."""
    return {
        "budget_id": budget.budget_id,
        "tenant_id": budget.tenant_id,
        "project_id": budget.project_id,
        "period": budget.period,
        "spend": spend,
        "amount": budget.amount,
        "currency": budget.currency,
    }


@dataclass(frozen=True)
class BudgetDecision:
    events: tuple[BudgetEvent, ...]  # to emit, in order: thresholds low to high, then exhausted
    forecast: BudgetForecast


def evaluate_budget(
    budget: Budget,
    spend: Decimal,
    now: datetime,
    emitted_thresholds: Collection[Decimal] = (),
    exhausted_emitted: bool = False,
) -> BudgetDecision:
    budget = budget.validated()
    if not spend.is_finite():
        raise InvalidBudget(f"budget {budget.budget_id}: spend must be a number, got {spend}")
    forecast = forecast_spend(budget, spend, now)
    emitted = {Decimal(t) for t in emitted_thresholds}
    events: list[BudgetEvent] = [
        BudgetThresholdCrossed(
            **standing(budget, spend), threshold_percent=threshold, forecast_spend=forecast.forecast_spend
        )
        for threshold in budget.thresholds_percent
        if threshold not in emitted
        and spend >= EXACT.divide(EXACT.multiply(budget.amount, threshold), Decimal(100))
    ]
    if budget.hard_cap and not exhausted_emitted and spend >= budget.amount:
        events.append(BudgetExhausted(**standing(budget, spend)))
    return BudgetDecision(events=tuple(events), forecast=forecast)


def forecast_spend(budget: Budget, spend: Decimal, now: datetime) -> BudgetForecast:
    start, end = period_bounds(budget.period)
    length = end - start
    elapsed = min(max(as_utc(now) - start, timedelta(0)), length)
    fraction = EXACT.divide(
        Decimal(elapsed // timedelta(microseconds=1)), Decimal(length // timedelta(microseconds=1))
    )
    floor = EXACT.divide(
        Decimal(MIN_BURN_WINDOW // timedelta(microseconds=1)), Decimal(length // timedelta(microseconds=1))
    )
    projected = EXACT.divide(spend, max(fraction, floor))
    forecast = round_money(projected, budget.currency)
    percent = EXACT.divide(EXACT.multiply(forecast, Decimal(100)), budget.amount).quantize(Decimal("0.01"))
    return BudgetForecast(
        spend=spend, elapsed_fraction=fraction, forecast_spend=forecast, forecast_percent=percent
    )
