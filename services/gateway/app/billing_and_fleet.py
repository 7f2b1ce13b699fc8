"""Reading invoices and the fleet; asking metering to finalize or void an invoice, or to grant credit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricing.credits import credit_grant_problems
from pricing.periods import period_problems
from services.gateway.app.audit import record
from services.gateway.app.pages import Page, PageRequest, page_of
from services.gateway.app.ports import GatewayStore
from services.gateway.domain.auth import Principal, require_operator, require_tenant_access, scope_tenant
from services.gateway.domain.errors import Conflict, InvalidInput, NotFound, refuse
from services.gateway.domain.model import Invoice, Node, new_grant_id
from services.gateway.domain.requests import listing_filters
from shared.clock import Clock
from shared.events.gateway import CreditGranted, InvoiceFinalizeRequested, InvoiceVoidRequested


@dataclass(frozen=True)
class FinalizeInvoice:
    tenant_id: str
    period: str  # YYYY-MM


@dataclass(frozen=True)
class GrantCredit:
    tenant_id: str
    amount: Decimal
    note: str = ""


@dataclass(frozen=True)
class VoidInvoice:
    invoice_id: str
    reason: str


class Billing:
    def __init__(self, store: GatewayStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def list_invoices(
        self,
        principal: Principal,
        tenant_id: str | None = None,
        period: str | None = None,
        page: PageRequest = PageRequest(),
    ) -> Page[Invoice]:
        """Newest period first, then by tenant and invoice id."""
        scoped = scope_tenant(principal, tenant_id)
        if period is not None:
            refuse(period_problems(period), "query")
        filters = listing_filters("invoices", scoped, period)
        start = page.start(filters, 3)
        after = (start[0], start[1], start[2]) if start else None
        async with self._store.reading() as uow:
            rows = await uow.invoices.list(scoped, period, after, page.limit)
        return page_of(rows, page, filters, lambda i: (i.period, i.tenant_id, i.invoice_id))

    async def get_invoice(self, principal: Principal, invoice_id: str) -> Invoice:
        async with self._store.reading() as uow:
            invoice = await uow.invoices.get(invoice_id)
        if invoice is None:
            raise NotFound("invoice", invoice_id)
        require_tenant_access(principal, invoice.tenant_id, "invoice", invoice_id)
        return invoice

    async def request_finalize(
        self, principal: Principal, command: FinalizeInvoice
    ) -> InvoiceFinalizeRequested:
        require_operator(principal)
        refuse(period_problems(command.period))
        async with self._store.transaction() as uow:
            if await uow.tenants.get(command.tenant_id) is None:
                raise NotFound("tenant", command.tenant_id)
            event = InvoiceFinalizeRequested(
                occurred_at=self._clock.now(), tenant_id=command.tenant_id, period=command.period
            )
            await uow.emit(event)
            await record(uow, principal, "invoice.finalize", event.period, event.tenant_id, event.occurred_at)
        return event

    async def grant_credit(self, principal: Principal, command: GrantCredit) -> CreditGranted:
        """Operator only: prepaid credit the tenant's invoices draw down."""
        require_operator(principal)
        async with self._store.transaction() as uow:
            tenant = await uow.tenants.get(command.tenant_id)
            if tenant is None:
                raise NotFound("tenant", command.tenant_id)
            # In the tenant's currency: whole minor units of it (USD cents, JPY yen).
            refuse(credit_grant_problems(command.amount, tenant.currency))
            event = CreditGranted(
                occurred_at=self._clock.now(),
                tenant_id=tenant.tenant_id,
                grant_id=new_grant_id(),
                amount=command.amount,
                currency=tenant.currency,
                note=command.note,
            )
            await uow.emit(event)
            await record(uow, principal, "credit.grant", event.grant_id, event.tenant_id, event.occurred_at)
        return event

    async def request_void(self, principal: Principal, command: VoidInvoice) -> InvoiceVoidRequested:
        """Operator only: withdraw a finalized invoice; metering opens a replacement draft."""
        require_operator(principal)
        if not command.reason.strip():
            raise InvalidInput.one("reason", "say why the invoice is voided")
        async with self._store.transaction() as uow:
            invoice = await uow.invoices.get(command.invoice_id)
            if invoice is None:
                raise NotFound("invoice", command.invoice_id)
            if invoice.status != "finalized":
                raise Conflict(
                    f"invoice {invoice.invoice_id} is {invoice.status}: only a finalized invoice can be voided"
                )
            event = InvoiceVoidRequested(
                occurred_at=self._clock.now(),
                tenant_id=invoice.tenant_id,
                invoice_id=invoice.invoice_id,
                reason=command.reason.strip(),
            )
            await uow.emit(event)
            await record(uow, principal, "invoice.void", event.invoice_id, event.tenant_id, event.occurred_at)
        return event


class Fleet:
    def __init__(self, store: GatewayStore) -> None:
        self._store = store

    async def list_nodes(self, principal: Principal, page: PageRequest = PageRequest()) -> Page[Node]:
        """By node id."""
        require_operator(principal)
        filters = listing_filters("nodes")
        start = page.start(filters, 1)
        async with self._store.reading() as uow:
            rows = await uow.nodes.list(start[0] if start else None, page.limit)
        return page_of(rows, page, filters, lambda n: (n.node_id,))
