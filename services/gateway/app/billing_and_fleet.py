"""Reading invoices and the fleet, and asking metering to finalize an invoice."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.app.ports import GatewayStore
from services.gateway.domain.auth import Principal, require_operator, require_tenant_access, scope_tenant
from services.gateway.domain.errors import InvalidInput, NotFound
from services.gateway.domain.model import Invoice, Node, period_error
from shared.clock import Clock
from shared.events.gateway import InvoiceFinalizeRequested


@dataclass(frozen=True)
class FinalizeInvoice:
    tenant_id: str
    period: str  # YYYY-MM


class Billing:
    def __init__(self, store: GatewayStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def list_invoices(
        self, principal: Principal, tenant_id: str | None = None, period: str | None = None
    ) -> list[Invoice]:
        scoped = scope_tenant(principal, tenant_id)
        if period is not None and (error := period_error("period", period)):
            raise InvalidInput([error])
        async with self._store.transaction() as uow:
            return await uow.invoices.list(scoped, period)

    async def get_invoice(self, principal: Principal, invoice_id: str) -> Invoice:
        async with self._store.transaction() as uow:
            invoice = await uow.invoices.get(invoice_id)
        if invoice is None:
            raise NotFound("invoice", invoice_id)
        require_tenant_access(principal, invoice.tenant_id, "invoice", invoice_id)
        return invoice

    async def request_finalize(
        self, principal: Principal, command: FinalizeInvoice
    ) -> InvoiceFinalizeRequested:
        require_operator(principal)
        if error := period_error("period", command.period):
            raise InvalidInput([error])
        async with self._store.transaction() as uow:
            if await uow.tenants.get(command.tenant_id) is None:
                raise NotFound("tenant", command.tenant_id)
            event = InvoiceFinalizeRequested(
                occurred_at=self._clock.now(), tenant_id=command.tenant_id, period=command.period
            )
            await uow.emit(event)
        return event


class Fleet:
    def __init__(self, store: GatewayStore) -> None:
        self._store = store

    async def list_nodes(self, principal: Principal) -> list[Node]:
        require_operator(principal)
        async with self._store.transaction() as uow:
            return await uow.nodes.list()
