"""Budgets tracked live, period after period: what each billing period has announced so far.

Continues the pricing core's budget rules (pricing/budgets.py; its rules 1-4 decide thresholds,
exhaustion and the forecast) with:

5. A budget is set per scope (one project, or the tenant's whole spend) and holds for every billing
   period from then on; setting it again replaces it, and the latest setting wins.
6. Live spend is read off the period's invoice snapshot: the tenant's total, or the sum of the
   project's lines. A snapshot older than the one the period was last decided on is ignored (a
   redelivered event may arrive late); the spend decided on stays.
7. A changed amount re-arms the thresholds the spend no longer reaches at the new amount, so that they
   are announced again when the spend gets there.
8. An exhausted budget is restored (BudgetRestored) as soon as its spend is below its amount (it was
   raised) or its hard cap is lifted, and exhausted again, once more, when the spend reaches the
   amount. An exhausted budget whose on-exhaustion policy changed is announced exhausted again, with
   the new policy, so that whoever stops running work learns it.
9. Each period starts afresh: nothing announced in one period carries over to the next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from pricing.budgets import (
    Budget,
    BudgetExhausted,
    BudgetForecast,
    BudgetThresholdCrossed,
    OnExhaustion,
    evaluate_budget,
    standing,
)
from pricing.errors import InvalidBudget
from pricing.money import EXACT, exact_sum
from services.metering.domain.errors import CurrencyMismatch
from services.metering.invoicing.domain.invoice import BillingInvoice, LineKind

_ANY_PERIOD = "2000-01"


@dataclass(frozen=True)
class BudgetDefinition:
    """A budget as set (rule 5): the same amount and terms for every period."""

    budget_id: str
    tenant_id: str
    project_id: str | None  # None: the tenant's whole spend
    amount: Decimal
    currency: str
    thresholds_percent: tuple[Decimal, ...]
    hard_cap: bool
    on_exhaustion: OnExhaustion
    set_at: datetime

    def for_period(self, period: str) -> Budget:
        return Budget(
            budget_id=self.budget_id,
            tenant_id=self.tenant_id,
            project_id=self.project_id,
            period=period,
            amount=self.amount,
            currency=self.currency,
            thresholds_percent=self.thresholds_percent,
            hard_cap=self.hard_cap,
        ).validated()

    def validated(self) -> BudgetDefinition:
        """The definition with its thresholds sorted; InvalidBudget when its terms break a rule."""
        if not self.budget_id or not self.tenant_id:
            raise InvalidBudget("a budget needs its id and its tenant")
        budget = self.for_period(_ANY_PERIOD)  # the terms are the same in every period
        return replace(self, currency=budget.currency, thresholds_percent=budget.thresholds_percent)


@dataclass(frozen=True)
class SpendReading:
    """The period's spend as an invoice snapshot showed it, and when that snapshot was taken."""

    spend: Decimal
    as_of: datetime


@dataclass(frozen=True)
class PeriodState:
    """What one budget announced in one period, and the spend it last decided on."""

    amount: Decimal  # the amount the thresholds were decided against (rule 7)
    thresholds_emitted: frozenset[Decimal]
    exhausted: bool
    on_exhaustion: OnExhaustion  # as last announced with BudgetExhausted
    spend: Decimal
    forecast_spend: Decimal
    spend_as_of: datetime | None  # None: no invoice snapshot seen yet in the period


@dataclass(frozen=True)
class BudgetRestored:
    budget_id: str
    tenant_id: str
    project_id: str | None
    period: str
    spend: Decimal
    amount: Decimal
    currency: str
    reason: str


TrackedEvent = BudgetThresholdCrossed | BudgetExhausted | BudgetRestored


@dataclass(frozen=True)
class Tracked:
    events: tuple[TrackedEvent, ...]  # thresholds low to high, then exhausted or restored
    state: PeriodState
    forecast: BudgetForecast


def track_budget(
    definition: BudgetDefinition,
    period: str,
    reading: SpendReading | None,
    now: datetime,
    previous: PeriodState | None,
) -> Tracked:
    """Decide what the period announces now, given its spend (None: the spend already decided on)."""
    budget = definition.for_period(period)
    spend, as_of = _current_spend(reading, previous)
    emitted = previous.thresholds_emitted if previous else frozenset()
    if previous is not None and previous.amount != budget.amount:
        emitted = frozenset(t for t in emitted if spend >= threshold_level(budget.amount, t))
    was_exhausted = previous is not None and previous.exhausted
    decision = evaluate_budget(budget, spend, now, emitted, exhausted_emitted=was_exhausted)
    events: list[TrackedEvent] = list(decision.events)
    still_exhausted = was_exhausted and budget.hard_cap and spend >= budget.amount
    if was_exhausted and not still_exhausted:
        events.append(_restored(budget, spend))
    elif still_exhausted and previous is not None and previous.on_exhaustion != definition.on_exhaustion:
        events.append(_exhausted(budget, spend))
    crossed = {e.threshold_percent for e in decision.events if isinstance(e, BudgetThresholdCrossed)}
    state = PeriodState(
        amount=budget.amount,
        thresholds_emitted=emitted | crossed,
        exhausted=still_exhausted or any(isinstance(e, BudgetExhausted) for e in decision.events),
        on_exhaustion=definition.on_exhaustion,
        spend=spend,
        forecast_spend=decision.forecast.forecast_spend,
        spend_as_of=as_of,
    )
    return Tracked(events=tuple(events), state=state, forecast=decision.forecast)


def threshold_level(amount: Decimal, percent: Decimal) -> Decimal:
    return EXACT.divide(EXACT.multiply(amount, percent), Decimal(100))


def invoice_spend(
    project_id: str | None, total: Decimal, lines: Iterable[tuple[str | None, Decimal]]
) -> Decimal:
    """Rule 6: the tenant's total, or the sum of the amounts of the project's (project_id, amount) lines."""
    if project_id is None:
        return total
    return exact_sum(amount for line_project, amount in lines if line_project == project_id)


def _current_spend(
    reading: SpendReading | None, previous: PeriodState | None
) -> tuple[Decimal, datetime | None]:
    if previous is None:
        return (reading.spend, reading.as_of) if reading else (Decimal(0), None)
    if reading is None or (previous.spend_as_of is not None and reading.as_of < previous.spend_as_of):
        return previous.spend, previous.spend_as_of  # rule 6: nothing new, or a stale snapshot
    return reading.spend, reading.as_of


def _restored(budget: Budget, spend: Decimal) -> BudgetRestored:
    if not budget.hard_cap:
        reason = "the hard cap was lifted"
    else:
        reason = f"spend {spend} is below the budget of {budget.amount} {budget.currency}"
    return BudgetRestored(**standing(budget, spend), reason=reason)


def _exhausted(budget: Budget, spend: Decimal) -> BudgetExhausted:
    return BudgetExhausted(**standing(budget, spend))


def budget_spend(budget: Budget, invoice: BillingInvoice) -> Decimal:
    """The budget's spend so far, read off the period's invoice (pricing.budgets rule 1)."""
    if (invoice.tenant_id, invoice.period) != (budget.tenant_id, budget.period):
        raise InvalidBudget(
            f"budget {budget.budget_id} is for {budget.tenant_id} {budget.period}, "
            f"not invoice {invoice.invoice_id} of {invoice.tenant_id} {invoice.period}"
        )
    if budget.currency != invoice.currency:
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
