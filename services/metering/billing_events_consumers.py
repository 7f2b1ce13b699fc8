"""Metering's consumers for billing events: budgets and webhook endpoints set through the gateway,
budgets tracked on metering's own invoice snapshots, billing events queued for webhooks, and the
UsageRated announcement of each released allocation.

Each handler runs in the shared idempotent consumer's transaction; RejectedInput is dead-lettered with
its reason (REJECTED, which every metering route names), NotYetKnown and anything else retried.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from pricing.meters import MeterName
from services.metering.budgets.adapters.store import PgBudgetStore
from services.metering.budgets.app.use_cases import record_budget, track_invoice
from services.metering.domain.errors import REFUSED_INPUT
from services.metering.usage.app.rated_events import PricedQuantity, usage_rated
from services.metering.webhooks.adapters.store import PgWebhookStore
from services.metering.webhooks.app.ports import WebhookStore
from services.metering.webhooks.app.use_cases import enqueue_billing_event, record_endpoint, remove_endpoint
from services.metering.webhooks.domain.rules import WebhookLimits
from shared.clock import Clock
from shared.db.pool import Tx
from shared.events.base import Event
from shared.events.gateway import BudgetSet, WebhookEndpointRemoved, WebhookEndpointSet
from shared.events.metering import BILLING_EVENTS, InvoiceFinalized, InvoiceUpdated
from shared.events.scheduler import AllocationReleased
from shared.messaging.routes import Rejections, Route, use_case_route
from shared.messaging.specs import ConsumerSpec, consumer

BUDGETS_DURABLE = "metering-budgets"
WEBHOOKS_DURABLE = "metering-webhooks"

RATED_ALLOCATION_SQL = """
SELECT r.tenant_id, r.period, t.currency, c.meter, c.gpu_model, c.base_quantity, c.unit_price, r.project_id
FROM rated_items r JOIN tenants t USING (tenant_id) JOIN rated_charges c ON c.rated_item_id = r.id
WHERE r.source_event_id = $1 AND c.unit_price IS NOT NULL
ORDER BY c.meter
"""


REJECTED: Rejections = REFUSED_INPUT  # RejectedInput and the pricing core's PricingError


def budget_store(tx: Tx) -> PgBudgetStore:
    return PgBudgetStore(tx.conn)


def webhook_store(tx: Tx) -> PgWebhookStore:
    return PgWebhookStore(tx.conn)


def billing_control_routes(clock: Clock, webhook_limits: WebhookLimits | None = None) -> list[Route[Any]]:
    """Routes for the durable that reads the gateway's tenants and price books: in stream order, so a
    budget is always seen after its tenant."""

    async def set_budget(tx: Tx, event: BudgetSet) -> None:
        await record_budget(budget_store(tx), tx, event, clock.now())

    async def set_endpoint(store: WebhookStore, event: WebhookEndpointSet) -> None:
        await record_endpoint(store, event, webhook_limits or WebhookLimits())

    return [
        Route(BudgetSet, set_budget, rejects=REJECTED),
        use_case_route(WebhookEndpointSet, webhook_store, set_endpoint, rejects=REJECTED),
        use_case_route(WebhookEndpointRemoved, webhook_store, remove_endpoint, rejects=REJECTED),
    ]


def billing_event_consumers(clock: Clock, max_deliveries: int) -> list[ConsumerSpec]:
    async def track(tx: Tx, snapshot: InvoiceUpdated | InvoiceFinalized) -> None:
        await track_invoice(budget_store(tx), tx, snapshot, clock.now())

    async def enqueue(tx: Tx, event: Event) -> None:
        await enqueue_billing_event(webhook_store(tx), event, clock.now())

    return [
        # Invoice snapshots, in order, on one durable: spend only grows between two of them.
        consumer(
            BUDGETS_DURABLE,
            Route(InvoiceUpdated, track, rejects=REJECTED),
            Route(InvoiceFinalized, track, rejects=REJECTED),
            max_deliveries=max_deliveries,
        ),
        consumer(
            WEBHOOKS_DURABLE,
            *(Route(billing_event, enqueue, rejects=REJECTED) for billing_event in BILLING_EVENTS),
            max_deliveries=max_deliveries,
        ),
    ]


async def announce_rated_allocation(tx: Tx, event: AllocationReleased, clock: Clock) -> None:
    rows = await tx.conn.fetch(RATED_ALLOCATION_SQL, event.event_id)
    if not rows:
        return  # not invoiced (the idle fleet), or nothing billable
    rated = usage_rated(
        tenant_id=rows[0]["tenant_id"],
        source_kind="allocation",
        source_id=event.allocation_id,
        period=rows[0]["period"],
        currency=rows[0]["currency"],
        charges=[_priced(row) for row in rows],
        now=clock.now(),
    )
    if rated is not None:
        await tx.emit(rated)


def _priced(row: asyncpg.Record) -> PricedQuantity:
    return PricedQuantity(
        project_id=row["project_id"],
        meter=MeterName(row["meter"]),
        gpu_model=row["gpu_model"],
        base_quantity=row["base_quantity"],
        unit_price=row["unit_price"],
    )
