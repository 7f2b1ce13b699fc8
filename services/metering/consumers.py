"""Metering's durable consumers: each handler runs a use case inside the shared idempotent consumer's
transaction. RejectedInput is dead-lettered at once with its reason (every route rejects it); NotYetKnown
and anything else is retried, then dead-lettered after the maximum deliveries.

Usage records, by far the most numerous, go through the batch consumer: one transaction per batch.
A durable carries several features' events (the gateway's, in stream order), so this wiring sits beside
main.py rather than in one feature."""

from __future__ import annotations

from collections.abc import Sequence

from services.metering.billing_events_consumers import (
    REJECTED,
    announce_rated_allocation,
    billing_control_routes,
)
from services.metering.invoicing.adapters.store import PostgresMeteringStore
from services.metering.invoicing.app import invoices, rating
from services.metering.usage.adapters.ledger_store import PostgresUsageLedger
from services.metering.usage.app.use_cases import record_allocation, record_usage
from services.metering.usage.domain.checks import UsageLimits
from services.metering.webhooks.domain.rules import WebhookLimits
from shared.clock import Clock
from shared.db.pool import Tx
from shared.events.gateway import (
    CreditGranted,
    InvoiceFinalizeRequested,
    InvoiceVoidRequested,
    PriceBookSet,
    TenantCreated,
)
from shared.events.ingest import UsageBatchRecorded, UsageRecorded
from shared.events.scheduler import AllocationReleased
from shared.messaging.routes import Route, batch_route, use_case_route
from shared.messaging.specs import BatchConsumerSpec, ConsumerSpec, consumer

USAGE_DURABLE = "metering-usage"
ALLOCATIONS_DURABLE = "metering-allocations"


def metering_store(tx: Tx) -> PostgresMeteringStore:
    return PostgresMeteringStore(tx.conn)


def metering_consumers(
    clock: Clock, max_deliveries: int, limits: UsageLimits, webhook_limits: WebhookLimits | None = None
) -> list[ConsumerSpec]:
    async def void_invoice(tx: Tx, event: InvoiceVoidRequested) -> None:
        await invoices.void_invoice(metering_store(tx), tx, event, clock.now())

    async def finalize_invoice(tx: Tx, event: InvoiceFinalizeRequested) -> None:
        await invoices.finalize_invoice(metering_store(tx), tx, event, clock.now())

    async def record_released(tx: Tx, event: AllocationReleased) -> None:
        """Rate the allocation, then announce UsageRated for what it billed, in the same transaction."""
        ledger = PostgresUsageLedger(tx, ALLOCATIONS_DURABLE)
        await record_allocation(metering_store(tx), ledger, event, clock.now(), limits)
        await announce_rated_allocation(tx, event, clock)

    return [
        # Tenants and price books on one durable, so a tenant is always seen before its price books.
        # Its filter (gateway.v1.*.*) also brings every job submission, acked unhandled: on FastStream's
        # one-message fetches that cost the job path 9% (bench/e2e_throughput.py, 1,000-job burst:
        # 129 jobs/s over five runs vs 142 before; 145 over six with this durable back on the pull loop).
        consumer(
            "metering-pricebooks",
            use_case_route(TenantCreated, metering_store, rating.record_tenant, rejects=REJECTED),
            use_case_route(PriceBookSet, metering_store, rating.record_price_book, rejects=REJECTED),
            use_case_route(CreditGranted, metering_store, invoices.grant_credit, rejects=REJECTED),
            Route(InvoiceVoidRequested, void_invoice, rejects=REJECTED),
            *billing_control_routes(clock, webhook_limits),
            max_deliveries=max_deliveries,
        ),
        consumer(
            ALLOCATIONS_DURABLE,
            Route(AllocationReleased, record_released, rejects=REJECTED),
            max_deliveries=max_deliveries,
        ),
        consumer(
            "metering-invoices",
            Route(InvoiceFinalizeRequested, finalize_invoice, rejects=REJECTED),
            max_deliveries=max_deliveries,
            low_rate=True,
        ),
    ]


def carried_records(events: Sequence[UsageRecorded | UsageBatchRecorded]) -> list[UsageRecorded]:
    """The records of the events, in order. A batch's records need no processed-event row each: the raw
    usage table keeps a record once by its event id, whichever batch carries it (ingest re-forms its
    batches after a crash)."""
    records: list[UsageRecorded] = []
    for event in events:
        if isinstance(event, UsageBatchRecorded):
            records += event.records
        else:
            records.append(event)
    return records


def usage_consumers(
    clock: Clock, max_deliveries: int, limits: UsageLimits, *, batch_size: int, copies: int
) -> list[BatchConsumerSpec]:
    """`copies` pull loops on the one durable: while one batch commits, the next is being read."""

    async def handle(tx: Tx, events: list[UsageRecorded | UsageBatchRecorded]) -> None:
        await record_usage(
            PostgresUsageLedger(tx, USAGE_DURABLE), carried_records(events), clock.now(), limits
        )

    spec = consumer(
        USAGE_DURABLE,
        batch_route(UsageRecorded, UsageBatchRecorded, handler=handle, rejects=REJECTED),
        batch_size=batch_size,
        max_deliveries=max_deliveries,
    )
    return [spec] * copies
