"""Keeping the read models in step with scheduler and metering events.

Each function runs inside the consumer's transaction (which also records the event as processed), so
an event is applied exactly once; rows are locked while the decision is taken, so replicas of the
gateway sharing a durable consumer cannot interleave two changes of one row.
"""

from __future__ import annotations

from dataclasses import replace

from services.gateway.app.ports import GatewayUnitOfWork
from services.gateway.domain.errors import RejectedEvent
from services.gateway.domain.model import Invoice, Node
from services.gateway.domain.rules import invoice_snapshot_applies, job_change_applies, node_change_applies
from shared.events.metering import InvoiceFinalized, InvoiceUpdated, InvoiceVoided
from shared.events.scheduler import JobStateChanged, NodeStateChanged


async def apply_job_state_changed(uow: GatewayUnitOfWork, event: JobStateChanged) -> bool:
    """True when the change was applied; False when a newer one was already there."""
    job = await uow.jobs.get(event.job_id, for_update=True)
    if job is None:
        raise RejectedEvent(f"job {event.job_id} is unknown to the gateway")
    if job.tenant_id != event.tenant_id or job.project_id != event.project_id:
        raise RejectedEvent(
            f"job {event.job_id} belongs to {job.tenant_id}/{job.project_id}, "
            f"not {event.tenant_id}/{event.project_id}"
        )
    if not job_change_applies(job, event.version):
        return False
    await uow.jobs.save(
        replace(
            job, state=event.state, reason=event.reason, version=event.version, updated_at=event.occurred_at
        )
    )
    return True


async def apply_node_state_changed(uow: GatewayUnitOfWork, event: NodeStateChanged) -> bool:
    current = await uow.nodes.get(event.node_id, for_update=True)
    if not node_change_applies(current, event.occurred_at):
        return False
    await uow.nodes.save(
        Node(event.node_id, event.state, event.gpu_model, event.gpu_count, event.occurred_at)
    )
    return True


async def apply_invoice_snapshot(
    uow: GatewayUnitOfWork, event: InvoiceUpdated | InvoiceFinalized | InvoiceVoided
) -> bool:
    final = isinstance(event, InvoiceFinalized | InvoiceVoided)
    current = await uow.invoices.get(event.invoice_id, for_update=True)
    if current is not None and current.tenant_id != event.tenant_id:
        raise RejectedEvent(
            f"invoice {event.invoice_id} belongs to {current.tenant_id}, not {event.tenant_id}"
        )
    if not invoice_snapshot_applies(current, final, event.occurred_at):
        return False
    await uow.invoices.save(
        Invoice(
            invoice_id=event.invoice_id,
            tenant_id=event.tenant_id,
            period=event.period,
            status=event.status,
            currency=event.currency,
            lines=tuple(event.lines),
            total=event.total,
            final=final,
            snapshot_at=event.occurred_at,
            revision=event.revision,
            replaces=event.replaces,
            subtotal=event.subtotal,
            credit_applied=event.credit_applied,
            void_reason=event.void_reason,
        )
    )
    return True
