"""Metering's internal API for budgets and webhooks (the gateway calls it for a tenant it authenticated):

GET /v1/budgets?tenant_id=T[&period=YYYY-MM]
  200: {tenant_id, period, items: [{budget_id, project_id, amount, currency, thresholds_percent, hard_cap,
        on_exhaustion, set_at, spend, spend_as_of, forecast_spend, forecast_percent, thresholds_crossed,
        exhausted}]}; the period defaults to the current one; the forecast is as of now.
GET /v1/webhooks?tenant_id=T
  200: {tenant_id, items: [{endpoint_id, url, event_types, active, set_at}]} (never the secret)
GET /v1/webhooks/deliveries?tenant_id=T[&endpoint_id=E][&limit=50]
  200: {tenant_id, items: [{delivery_id, endpoint_id, event_id, event_type, status, attempts,
        next_attempt_at, created_at, finished_at, attempt_log: [{attempt, attempted_at, status_code, error,
        duration_ms, next_retry_at}]}]}, newest first.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.metering.adapters.budget_store import PgBudgetStore
from services.metering.adapters.http.api import checked_period
from services.metering.adapters.webhook_store import PgWebhookStore
from services.metering.app.budget_use_cases import BudgetStatus, budget_statuses
from services.metering.app.webhook_ports import AttemptRecord, DeliveryRecord, WebhookEndpoint
from services.metering.domain.periods import period_of
from shared.clock import Clock
from shared.db.pool import Database

TenantId = Annotated[str, Query(min_length=1, description="the authenticated tenant")]


class BudgetOut(BaseModel):
    budget_id: str
    project_id: str | None
    amount: Decimal
    currency: str
    thresholds_percent: list[Decimal]
    hard_cap: bool
    on_exhaustion: str
    set_at: datetime
    spend: Decimal
    spend_as_of: datetime | None
    forecast_spend: Decimal
    forecast_percent: Decimal
    thresholds_crossed: list[Decimal]
    exhausted: bool

    @classmethod
    def of(cls, status: BudgetStatus) -> BudgetOut:
        definition, state = status.definition, status.state
        return cls(
            budget_id=definition.budget_id,
            project_id=definition.project_id,
            amount=definition.amount,
            currency=definition.currency,
            thresholds_percent=list(definition.thresholds_percent),
            hard_cap=definition.hard_cap,
            on_exhaustion=definition.on_exhaustion.value,
            set_at=definition.set_at,
            spend=status.spend,
            spend_as_of=state.spend_as_of if state else None,
            forecast_spend=status.forecast.forecast_spend,
            forecast_percent=status.forecast.forecast_percent,
            thresholds_crossed=sorted(state.thresholds_emitted) if state else [],
            exhausted=state.exhausted if state else False,
        )


class BudgetsOut(BaseModel):
    tenant_id: str
    period: str
    items: list[BudgetOut]


class EndpointOut(BaseModel):
    endpoint_id: str
    url: str
    event_types: list[str]
    active: bool
    set_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls(
            endpoint_id=endpoint.endpoint_id,
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            active=endpoint.active,
            set_at=endpoint.set_at,
        )


class EndpointsOut(BaseModel):
    tenant_id: str
    items: list[EndpointOut]


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float
    next_retry_at: datetime | None

    @classmethod
    def of(cls, record: AttemptRecord) -> AttemptOut:
        return cls(**vars(record))


class DeliveryOut(BaseModel):
    delivery_id: int
    endpoint_id: str
    event_id: UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptOut]

    @classmethod
    def of(cls, record: DeliveryRecord) -> DeliveryOut:
        return cls(
            delivery_id=record.delivery_id,
            endpoint_id=record.endpoint_id,
            event_id=record.event_id,
            event_type=record.event_type,
            status=record.status.value,
            attempts=record.attempts,
            next_attempt_at=record.next_attempt_at,
            created_at=record.created_at,
            finished_at=record.finished_at,
            attempt_log=[AttemptOut.of(attempt) for attempt in record.attempt_log],
        )


class DeliveriesOut(BaseModel):
    tenant_id: str
    items: list[DeliveryOut]


def billing_events_router(db: Database, clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/budgets")
    async def budgets(tenant_id: TenantId, period: str | None = None) -> BudgetsOut:
        now = clock.now()
        chosen = checked_period(period) if period is not None else period_of(now)
        async with db.transaction() as tx:
            statuses = await budget_statuses(PgBudgetStore(tx.conn), tenant_id, chosen, now)
        return BudgetsOut(tenant_id=tenant_id, period=chosen, items=[BudgetOut.of(s) for s in statuses])

    @router.get("/webhooks")
    async def webhooks(tenant_id: TenantId) -> EndpointsOut:
        async with db.transaction() as tx:
            endpoints = await PgWebhookStore(tx.conn).endpoints(tenant_id)
        return EndpointsOut(tenant_id=tenant_id, items=[EndpointOut.of(e) for e in endpoints])

    @router.get("/webhooks/deliveries")
    async def deliveries(
        tenant_id: TenantId,
        endpoint_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> DeliveriesOut:
        async with db.transaction() as tx:
            records = await PgWebhookStore(tx.conn).deliveries(tenant_id, endpoint_id, limit)
        return DeliveriesOut(tenant_id=tenant_id, items=[DeliveryOut.of(r) for r in records])

    return router
