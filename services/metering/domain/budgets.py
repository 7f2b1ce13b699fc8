"""Budgets per tenant or project and billing period: threshold and exhaustion decisions, and a forecast.

Rules:
1. Spend is what the period's invoice charges the scope before prepaid credit (credit pays for usage, it
   does not make it smaller): the tenant's subtotal, or the sum of one project's lines (usage and
   adjustments). budget_spend reads it off a BillingInvoice.
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

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from services.metering.domain.billing import BillingInvoice, LineKind
from services.metering.domain.errors import CurrencyMismatch, InvalidBudget
from services.metering.domain.money import EXACT, exact_sum, normalize_currency, round_money
from services.metering.domain.periods import as_utc, period_bounds, validate_period

DEFAULT_THRESHOLDS = (Decimal(50), Decimal(80), Decimal(100))
MIN_BURN_WINDOW = timedelta(hours=1)


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
        problems = []
        if not self.amount.is_finite() or self.amount <= 0:
            problems.append(f"amount must be positive, got {self.amount}")
        bad = [str(t) for t in self.thresholds_percent if not t.is_finite() or t <= 0]
        if bad:
            problems.append(f"thresholds must be positive percentages, got {', '.join(bad)}")
        if len(set(self.thresholds_percent)) != len(self.thresholds_percent):
            problems.append("thresholds repeat")
        if problems:
            raise InvalidBudget(f"budget {self.budget_id}: " + "; ".join(problems))
        validate_period(self.period)
        return Budget(
            budget_id=self.budget_id,
            tenant_id=self.tenant_id,
            project_id=self.project_id,
            period=self.period,
            amount=self.amount,
            currency=normalize_currency(self.currency),
            thresholds_percent=tuple(sorted(self.thresholds_percent)),
            hard_cap=self.hard_cap,
        )


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


def budget_spend(budget: Budget, invoice: BillingInvoice) -> Decimal:
    """The budget's spend so far, read off the period's invoice (rule 1)."""
    if (invoice.tenant_id, invoice.period) != (budget.tenant_id, budget.period):
        raise InvalidBudget(
            f"budget {budget.budget_id} is for {budget.tenant_id} {budget.period}, "
            f"not invoice {invoice.invoice_id} of {invoice.tenant_id} {invoice.period}"
        )
    if normalize_currency(budget.currency) != invoice.currency:
        raise CurrencyMismatch(
            f"budget {budget.budget_id} is in {budget.currency}, invoice {invoice.invoice_id} in {invoice.currency}"
        )
    if budget.project_id is None:
        return invoice.subtotal
    return exact_sum(
        line.amount
        for line in invoice.lines
        if line.project_id == budget.project_id and line.kind in (LineKind.USAGE, LineKind.ADJUSTMENT)
    )
