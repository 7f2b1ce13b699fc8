"""The gateway's durable consumers: scheduler job and node changes, metering invoice snapshots."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.gateway.adapters.postgres.store import PgUnitOfWork
from services.gateway.app.ports import GatewayUnitOfWork
from services.gateway.app.read_models import (
    apply_invoice_snapshot,
    apply_job_state_changed,
    apply_node_state_changed,
)
from services.gateway.domain.errors import RejectedEvent
from shared.events.metering import InvoiceFinalized, InvoiceUpdated, InvoiceVoided
from shared.events.scheduler import JobStateChanged, NodeStateChanged
from shared.messaging.routes import E, Route, use_case_route
from shared.messaging.specs import ConsumerSpec, consumer

JOBS_DURABLE = "gateway-jobs"
NODES_DURABLE = "gateway-nodes"
INVOICES_DURABLE = "gateway-invoices"


def _read_model(event_type: type[E], apply: Callable[[GatewayUnitOfWork, E], Awaitable[object]]) -> Route[E]:
    """A read-model use case run in the consumer's transaction; a rejected event is dead-lettered."""
    return use_case_route(event_type, PgUnitOfWork, apply, rejects=(RejectedEvent,))


def gateway_consumers(max_deliveries: int) -> list[ConsumerSpec]:
    return [
        consumer(
            JOBS_DURABLE, _read_model(JobStateChanged, apply_job_state_changed), max_deliveries=max_deliveries
        ),
        consumer(
            NODES_DURABLE,
            _read_model(NodeStateChanged, apply_node_state_changed),
            max_deliveries=max_deliveries,
            low_rate=True,
        ),
        # Every invoice subject on one durable, so updates, finalization and void keep their order.
        consumer(
            INVOICES_DURABLE,
            _read_model(InvoiceUpdated, apply_invoice_snapshot),
            _read_model(InvoiceFinalized, apply_invoice_snapshot),
            _read_model(InvoiceVoided, apply_invoice_snapshot),
            max_deliveries=max_deliveries,
        ),
    ]
