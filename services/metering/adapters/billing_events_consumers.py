"""Metering's consumers for billing events: budgets and webhook endpoints set through the gateway,
budgets tracked on metering's own invoice snapshots, billing events queued for webhooks, and the
UsageRated announcement of each released allocation.

Each handler runs in the shared idempotent consumer's transaction; RejectedInput is dead-lettered with
its reason, NotYetKnown and anything else retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from services.metering.adapters.budget_store import PgBudgetStore
from services.metering.adapters.rejecting import rejecting
from services.metering.adapters.webhook_store import PgWebhookStore
from services.metering.app.billing_events import PricedQuantity, usage_rated
from services.metering.app.budget_use_cases import record_budget, track_invoice
from services.metering.app.ports import MeteringStore
from services.metering.app.webhook_use_cases import enqueue_billing_event, record_endpoint, remove_endpoint
from services.metering.domain.meters import MeterName
from shared.clock import Clock
from shared.db.pool import Tx
from shared.events.base import Event
from shared.events.gateway import BudgetSet, WebhookEndpointRemoved, WebhookEndpointSet
from shared.events.metering import BILLING_EVENTS, InvoiceFinalized, InvoiceUpdated
from shared.events.scheduler import AllocationReleased
from shared.messaging.consumer import ConsumerSpec, Handler
from shared.messaging.streams import METERING

BUDGETS_DURABLE = "metering-budgets"
WEBHOOKS_DURABLE = "metering-webhooks"

RATED_ALLOCATION_SQL = """
SELECT r.tenant_id, r.period, t.currency, c.meter, c.gpu_model, c.base_quantity, c.unit_price, r.project_id
FROM rated_items r JOIN tenants t USING (tenant_id) JOIN rated_charges c ON c.rated_item_id = r.id
WHERE r.source_event_id = $1 AND c.unit_price IS NOT NULL
ORDER BY c.meter
"""


def billing_control_routes(clock: Clock) -> dict[type[Event], Handler]:
    """Routes for the durable that reads the gateway's tenants and price books: in stream order, so a
    budget is always seen after its tenant."""
    return {
        BudgetSet: rejecting(lambda tx, event: record_budget(PgBudgetStore(tx.conn), tx, event, clock.now())),
        WebhookEndpointSet: rejecting(lambda tx, event: record_endpoint(PgWebhookStore(tx.conn), event)),
        WebhookEndpointRemoved: rejecting(lambda tx, event: remove_endpoint(PgWebhookStore(tx.conn), event)),
    }


def billing_event_consumers(clock: Clock, max_deliveries: int) -> list[ConsumerSpec]:
    track = rejecting(lambda tx, snapshot: track_invoice(PgBudgetStore(tx.conn), tx, snapshot, clock.now()))
    enqueue = rejecting(lambda tx, event: enqueue_billing_event(PgWebhookStore(tx.conn), event, clock.now()))
    return [
        # Invoice snapshots, in order, on one durable: spend only grows between two of them.
        ConsumerSpec(
            durable=BUDGETS_DURABLE,
            stream=METERING,
            subject="metering.v1.invoice.*",
            routes={InvoiceUpdated: track, InvoiceFinalized: track},
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable=WEBHOOKS_DURABLE,
            stream=METERING,
            subject="metering.v1.>",
            routes=dict.fromkeys(BILLING_EVENTS, enqueue),
            max_deliveries=max_deliveries,
        ),
    ]


# The allocation consumer's use case, as consumers.py runs it.
AllocationUseCase = Callable[[MeteringStore, Tx, AllocationReleased], Awaitable[None]]


def announcing_usage_rated(record: AllocationUseCase, clock: Clock) -> AllocationUseCase:
    """The allocation use case, then UsageRated for what it billed, in the same transaction."""

    async def run(store: MeteringStore, tx: Tx, event: AllocationReleased) -> None:
        await record(store, tx, event)
        await announce_rated_allocation(tx, event, clock)

    return run


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
