"""Metering's internal budgets API (the gateway calls it for a tenant it authenticated, and asserts that
tenant in its signed call: platform/http.py TenantId): GET /v1/budgets,
answering with shared/contracts/metering_api.py TenantBudgets, the period (default: the current one)
with each budget's spend and its forecast as of now."""

from __future__ import annotations

from fastapi import APIRouter

from pricing.periods import period_of
from services.metering.budgets.adapters.store import PgBudgetStore
from services.metering.budgets.app.use_cases import BudgetStatus, budget_statuses
from services.metering.platform.http import TenantId, checked_period
from shared.clock import Clock
from shared.contracts import metering_api as api
from shared.db.pool import Database


def budget_status(status: BudgetStatus) -> api.BudgetStatus:
    definition, state = status.definition, status.state
    return api.BudgetStatus(
        budget_id=definition.budget_id,
        project_id=definition.project_id,
        amount=definition.amount,
        currency=definition.currency,
        thresholds_percent=list(definition.thresholds_percent),
        hard_cap=definition.hard_cap,
        on_exhaustion=definition.on_exhaustion,
        set_at=definition.set_at,
        spend=status.spend,
        spend_as_of=state.spend_as_of if state else None,
        forecast_spend=status.forecast.forecast_spend,
        forecast_percent=status.forecast.forecast_percent,
        thresholds_crossed=sorted(state.thresholds_emitted) if state else [],
        exhausted=state.exhausted if state else False,
    )


def budgets_router(db: Database, clock: Clock) -> APIRouter:
    router = APIRouter()

    @router.get(api.BUDGETS_PATH)
    async def budgets(tenant_id: TenantId, period: str | None = None) -> api.TenantBudgets:
        now = clock.now()
        chosen = checked_period(period) if period is not None else period_of(now)
        async with db.transaction() as tx:
            statuses = await budget_statuses(PgBudgetStore(tx.conn), tenant_id, chosen, now)
        return api.TenantBudgets(
            tenant_id=tenant_id, period=chosen, items=[budget_status(s) for s in statuses]
        )

    return router
