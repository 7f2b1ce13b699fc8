"""Budget use cases: record a budget set through the gateway, track budgets as invoice snapshots come
(announcing thresholds crossed, budgets exhausted and restored: billing events, docs/billing-events.md),
and read a tenant's budgets with their spend and forecast.

Each decision and the events it announces commit together (the consumer's transaction and outbox).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pricing.budgets import BudgetForecast, OnExhaustion, forecast_spend
from pricing.money import normalize_currency
from pricing.periods import period_of
from services.metering.budgets.app.ports import BudgetStore
from services.metering.budgets.domain.tracking import (
    BudgetDefinition,
    BudgetExhausted,
    BudgetThresholdCrossed,
    PeriodState,
    SpendReading,
    TrackedEvent,
    invoice_spend,
    track_budget,
)
from services.metering.domain.errors import CurrencyMismatch, TenantNotYetKnown
from services.metering.platform.outbox import EventOutbox
from shared.events import metering as events
from shared.events.gateway import BudgetSet
from shared.events.metering import InvoiceFinalized, InvoiceUpdated

log = logging.getLogger(__name__)


def definition_of(event: BudgetSet) -> BudgetDefinition:
    return BudgetDefinition(
        budget_id=event.budget_id,
        tenant_id=event.tenant_id,
        project_id=event.project_id,
        amount=event.amount,
        currency=event.currency,
        thresholds_percent=tuple(event.thresholds_percent),
        hard_cap=event.hard_cap,
        on_exhaustion=OnExhaustion(event.on_exhaustion),
        set_at=event.occurred_at,
    ).validated()


async def record_budget(store: BudgetStore, outbox: EventOutbox, event: BudgetSet, now: datetime) -> None:
    """Keep the budget, then decide the current period again at once: a raised budget reopens
    admission, a lowered one may be exhausted already."""
    definition = definition_of(event)
    currency = await store.tenant_currency(event.tenant_id)
    if currency is None:
        raise TenantNotYetKnown(event.tenant_id)
    if normalize_currency(currency) != definition.currency:
        raise CurrencyMismatch(
            f"budget {definition.budget_id} is in {definition.currency}, tenant {event.tenant_id} is "
            f"billed in {currency}"
        )
    if not await store.save_budget(definition):
        return  # a later setting of this budget is kept already
    period = period_of(now)
    invoice = await store.invoice(event.tenant_id, period)
    reading = None
    if invoice is not None and invoice.currency == definition.currency:
        spend = invoice_spend(definition.project_id, invoice.total, invoice.lines)
        reading = SpendReading(spend, invoice.as_of)
    await _decide(store, outbox, definition, period, reading, now)


async def track_invoice(
    store: BudgetStore, outbox: EventOutbox, snapshot: InvoiceUpdated | InvoiceFinalized, now: datetime
) -> int:
    """Decide each of the tenant's budgets on a new invoice snapshot; returns how many events it emitted."""
    lines = tuple((line.project_id, line.amount) for line in snapshot.lines)
    emitted = 0
    for definition in await store.budgets_of(snapshot.tenant_id, lock=True):
        if definition.currency != snapshot.currency:
            log.warning(
                "budget %s is in %s, invoice %s in %s: not tracked",
                definition.budget_id,
                definition.currency,
                snapshot.invoice_id,
                snapshot.currency,
            )
            continue
        spend = invoice_spend(definition.project_id, snapshot.total, lines)
        reading = SpendReading(spend, snapshot.occurred_at)
        emitted += await _decide(store, outbox, definition, snapshot.period, reading, now)
    return emitted


async def _decide(
    store: BudgetStore,
    outbox: EventOutbox,
    definition: BudgetDefinition,
    period: str,
    reading: SpendReading | None,
    now: datetime,
) -> int:
    previous = await store.period_state(definition.budget_id, period)
    tracked = track_budget(definition, period, reading, now, previous)
    await store.save_period_state(definition.budget_id, period, tracked.state, now)
    for decided in tracked.events:
        await outbox.emit(budget_event(decided, definition, tracked.forecast.forecast_spend, now))
    return len(tracked.events)


@dataclass(frozen=True)
class BudgetStatus:
    """A budget and where its period stands: spend decided on so far, and the forecast as of now."""

    definition: BudgetDefinition
    period: str
    state: PeriodState | None  # None: nothing decided in the period yet
    forecast: BudgetForecast

    @property
    def spend(self) -> Decimal:
        return self.state.spend if self.state else Decimal(0)


async def budget_statuses(
    store: BudgetStore, tenant_id: str, period: str, now: datetime
) -> list[BudgetStatus]:
    statuses = []
    for definition in await store.budgets_of(tenant_id, lock=False):
        state = await store.period_state(definition.budget_id, period)
        spend = state.spend if state else Decimal(0)
        forecast = forecast_spend(definition.for_period(period), spend, now)
        statuses.append(BudgetStatus(definition, period, state, forecast))
    return statuses


def budget_event(
    decided: TrackedEvent,
    definition: BudgetDefinition,
    forecast_spend: Decimal,
    now: datetime,
) -> events.BudgetThresholdCrossed | events.BudgetExhausted | events.BudgetRestored:
    common = {
        "occurred_at": now,
        "tenant_id": decided.tenant_id,
        "budget_id": decided.budget_id,
        "project_id": decided.project_id,
        "period": decided.period,
        "amount": decided.amount,
        "currency": decided.currency,
        "spend": decided.spend,
        "forecast_spend": forecast_spend,
    }
    if isinstance(decided, BudgetThresholdCrossed):
        return events.BudgetThresholdCrossed.model_validate(
            common | {"threshold_percent": decided.threshold_percent}
        )
    if isinstance(decided, BudgetExhausted):
        return events.BudgetExhausted.model_validate(
            common | {"on_exhaustion": definition.on_exhaustion.value}
        )
    return events.BudgetRestored.model_validate(common | {"reason": decided.reason})
