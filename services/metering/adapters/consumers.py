"""Metering's durable consumers: each handler runs a use case inside the shared idempotent consumer's
transaction. RejectedInput becomes PermanentError (dead letter, with the reason); NotYetKnown and
anything else is retried, then dead-lettered after the maximum deliveries.

Usage records, by far the most numerous, go through the batch consumer: one transaction per batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from services.metering.adapters.billing_events_consumers import announcing_usage_rated, billing_control_routes
from services.metering.adapters.postgres_store import PostgresMeteringStore
from services.metering.adapters.rejecting import rejecting
from services.metering.adapters.usage_store import PostgresUsageLedger
from services.metering.app import invoicing, use_cases
from services.metering.app.ports import MeteringStore
from services.metering.app.usage import record_allocation, record_usage
from services.metering.domain.usage_checks import UsageLimits
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
from shared.messaging.batch_consumer import BatchConsumerSpec
from shared.messaging.consumer import ConsumerSpec, Handler
from shared.messaging.streams import GATEWAY, INGEST, SCHEDULER

# A use case run with the transaction's store and outbox.
TxUseCase = Callable[[MeteringStore, Tx, Any], Awaitable[None]]


def _handler(use_case: TxUseCase) -> Handler:
    return rejecting(lambda tx, event: use_case(PostgresMeteringStore(tx.conn), tx, event))


USAGE_DURABLE = "metering-usage"
ALLOCATIONS_DURABLE = "metering-allocations"


def metering_consumers(clock: Clock, max_deliveries: int, limits: UsageLimits) -> list[ConsumerSpec]:
    return [
        # Tenants and price books on one durable, so a tenant is always seen before its price books.
        ConsumerSpec(
            durable="metering-pricebooks",
            stream=GATEWAY,
            subject="gateway.v1.>",
            routes={
                TenantCreated: _handler(lambda store, _, event: use_cases.record_tenant(store, event)),
                PriceBookSet: _handler(lambda store, _, event: use_cases.record_price_book(store, event)),
                CreditGranted: _handler(lambda store, _, event: invoicing.grant_credit(store, event)),
                InvoiceVoidRequested: _handler(
                    lambda store, tx, event: invoicing.void_invoice(store, tx, event, clock.now())
                ),
                **billing_control_routes(clock),
            },
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable=ALLOCATIONS_DURABLE,
            stream=SCHEDULER,
            subject=AllocationReleased.SUBJECT,
            routes={
                AllocationReleased: _handler(
                    announcing_usage_rated(
                        lambda store, tx, event: record_allocation(
                            store, PostgresUsageLedger(tx, ALLOCATIONS_DURABLE), event, clock.now(), limits
                        ),
                        clock,
                    )
                )
            },
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable="metering-invoices",
            stream=GATEWAY,
            subject=InvoiceFinalizeRequested.SUBJECT,
            routes={
                InvoiceFinalizeRequested: _handler(
                    lambda store, tx, event: invoicing.finalize_invoice(store, tx, event, clock.now())
                )
            },
            max_deliveries=max_deliveries,
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

    @rejecting
    async def handle(tx: Tx, events: list[UsageRecorded | UsageBatchRecorded]) -> None:
        await record_usage(
            PostgresUsageLedger(tx, USAGE_DURABLE), carried_records(events), clock.now(), limits
        )

    spec = BatchConsumerSpec(
        durable=USAGE_DURABLE,
        stream=INGEST,
        subject="ingest.v1.usage.>",
        event_types=(UsageRecorded, UsageBatchRecorded),
        handler=handle,
        batch_size=batch_size,
        max_deliveries=max_deliveries,
    )
    return [spec] * copies
