"""Metering's durable consumers: each handler runs a use case inside the shared idempotent consumer's
transaction. RejectedInput becomes PermanentError (dead letter, with the reason); NotYetKnown and
anything else is retried, then dead-lettered after the maximum deliveries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.metering.adapters.postgres_store import PostgresMeteringStore
from services.metering.app import use_cases
from services.metering.app.ports import MeteringStore
from services.metering.domain.errors import RejectedInput
from shared.clock import Clock
from shared.db.pool import Tx
from shared.events.gateway import InvoiceFinalizeRequested, PriceBookSet, TenantCreated
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased
from shared.messaging.consumer import ConsumerSpec, Handler, PermanentError
from shared.messaging.streams import GATEWAY, INGEST, SCHEDULER

# A use case run with the transaction's store and outbox.
TxUseCase = Callable[[MeteringStore, Tx, Any], Awaitable[None]]


def _handler(use_case: TxUseCase) -> Handler:
    async def handle(tx: Tx, event: Any) -> None:
        try:
            await use_case(PostgresMeteringStore(tx.conn), tx, event)
        except RejectedInput as error:
            raise PermanentError(str(error)) from error

    return handle


def metering_consumers(clock: Clock, max_deliveries: int) -> list[ConsumerSpec]:
    return [
        # Tenants and price books on one durable, so a tenant is always seen before its price books.
        ConsumerSpec(
            durable="metering-pricebooks",
            stream=GATEWAY,
            subject="gateway.v1.>",
            routes={
                TenantCreated: _handler(lambda store, _, event: use_cases.record_tenant(store, event)),
                PriceBookSet: _handler(lambda store, _, event: use_cases.record_price_book(store, event)),
            },
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable="metering-allocations",
            stream=SCHEDULER,
            subject=AllocationReleased.SUBJECT,
            routes={
                AllocationReleased: _handler(
                    lambda store, _, event: use_cases.rate_released_allocation(store, event)
                )
            },
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable="metering-usage",
            stream=INGEST,
            subject=UsageRecorded.SUBJECT,
            routes={
                UsageRecorded: _handler(lambda store, _, event: use_cases.rate_recorded_usage(store, event))
            },
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable="metering-invoices",
            stream=GATEWAY,
            subject=InvoiceFinalizeRequested.SUBJECT,
            routes={
                InvoiceFinalizeRequested: _handler(
                    lambda store, tx, event: use_cases.finalize_invoice(store, tx, event, clock.now())
                )
            },
            max_deliveries=max_deliveries,
        ),
    ]
