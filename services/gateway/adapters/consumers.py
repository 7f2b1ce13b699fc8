"""The gateway's durable consumers: scheduler job and node changes, metering invoice snapshots."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.gateway.adapters.postgres.store import PgUnitOfWork
from services.gateway.app.ports import GatewayUnitOfWork
from services.gateway.app.read_models import (
    apply_invoice_snapshot,
    apply_job_state_changed,
    apply_node_state_changed,
)
from services.gateway.domain.errors import RejectedEvent
from shared.db.pool import Tx
from shared.events.metering import InvoiceFinalized, InvoiceUpdated, InvoiceVoided
from shared.events.scheduler import JobStateChanged, NodeStateChanged
from shared.messaging.consumer import ConsumerSpec, Handler, PermanentError
from shared.messaging.streams import METERING, SCHEDULER

JOBS_DURABLE = "gateway-jobs"
NODES_DURABLE = "gateway-nodes"
INVOICES_DURABLE = "gateway-invoices"


def _handler(apply: Callable[[GatewayUnitOfWork, Any], Awaitable[bool]]) -> Handler:
    """Run a read-model use case in the consumer's transaction; a rejected event is dead-lettered."""

    async def handle(tx: Tx, event: Any) -> None:
        try:
            await apply(PgUnitOfWork(tx), event)
        except RejectedEvent as error:
            raise PermanentError(error.detail) from error

    return handle


def gateway_consumers(max_deliveries: int) -> list[ConsumerSpec]:
    return [
        ConsumerSpec(
            durable=JOBS_DURABLE,
            stream=SCHEDULER,
            subject=JobStateChanged.SUBJECT,
            routes={JobStateChanged: _handler(apply_job_state_changed)},
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable=NODES_DURABLE,
            stream=SCHEDULER,
            subject=NodeStateChanged.SUBJECT,
            routes={NodeStateChanged: _handler(apply_node_state_changed)},
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable=INVOICES_DURABLE,
            stream=METERING,
            # Every invoice subject on one durable, so updates, finalization and void keep their order.
            subject="metering.v1.invoice.*",
            routes={
                InvoiceUpdated: _handler(apply_invoice_snapshot),
                InvoiceFinalized: _handler(apply_invoice_snapshot),
                InvoiceVoided: _handler(apply_invoice_snapshot),
            },
            max_deliveries=max_deliveries,
        ),
    ]
