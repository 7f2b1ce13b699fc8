"""In-memory MeteringStore and EventOutbox for use-case tests (locks are moot in one task)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from services.metering.invoicing.app.ports import CreditGrant, TenantAccount
from services.metering.invoicing.domain.charge_ledger import LedgerEntry, PriceBookVersions, ledger_entries
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import RatedItem
from shared.events.base import Event


@dataclass
class _Tenant:
    name: str
    currency: str
    last_published_at: datetime | None = None


@dataclass
class FakeMeteringStore:
    tenants: dict[str, _Tenant] = field(default_factory=dict)
    books: list[tuple[UUID, PriceBook]] = field(default_factory=list)
    items: list[RatedItem] = field(default_factory=list)
    invoices: dict[tuple[str, str], BillingInvoice] = field(default_factory=dict)  # the open one
    voided: list[BillingInvoice] = field(default_factory=list)
    grants: dict[str, Decimal] = field(default_factory=dict)
    dirty: set[tuple[str, str]] = field(default_factory=set)

    async def add_tenant(self, tenant_id: str, name: str, currency: str) -> bool:
        if tenant_id in self.tenants:
            return False
        self.tenants[tenant_id] = _Tenant(name, currency)
        return True

    async def lock_tenant(self, tenant_id: str, *, exclusive: bool) -> TenantAccount | None:
        tenant = self.tenants.get(tenant_id)
        return TenantAccount(tenant_id, tenant.currency) if tenant else None

    async def set_currency(self, tenant_id: str, currency: str) -> None:
        self.tenants[tenant_id].currency = currency

    async def has_rated_items(self, tenant_id: str) -> bool:
        return any(item.tenant_id == tenant_id for item in self.items)

    async def add_price_book(self, source_event_id: UUID, book: PriceBook) -> None:
        self.books.append((source_event_id, book))

    async def price_books(self, tenant_id: str) -> Sequence[PriceBook]:
        return sorted((b for _, b in self.books if b.tenant_id == tenant_id), key=lambda b: b.effective_from)

    async def finalized_periods(self, tenant_id: str) -> set[str]:
        return {
            p
            for (t, p), inv in self.invoices.items()
            if t == tenant_id and inv.status is InvoiceStatus.FINALIZED
        }

    async def add_rated_item(self, item: RatedItem) -> UUID | None:
        for held in self.items:
            same_source = held.tenant_id == item.tenant_id and held.source_key == item.source_key
            if held.source_event_id == item.source_event_id or same_source:
                return held.source_event_id
        self.items.append(item)
        return None

    async def invoice_status(self, tenant_id: str, period: str) -> InvoiceStatus | None:
        invoice = self.invoices.get((tenant_id, period))
        return invoice.status if invoice else None

    async def save_invoice(self, invoice: BillingInvoice, at: datetime) -> None:
        held = self.invoices.get((invoice.tenant_id, invoice.period))
        if held is None or (held.status is InvoiceStatus.DRAFT and held.invoice_id == invoice.invoice_id):
            self.invoices[(invoice.tenant_id, invoice.period)] = invoice

    async def ledger_entries(
        self, tenant_id: str, period: str, versions: PriceBookVersions
    ) -> Sequence[LedgerEntry]:
        return [
            e for item in self.items if item.tenant_id == tenant_id for e in ledger_entries(item, versions)
        ]

    async def credit_balance(self, tenant_id: str) -> Decimal:
        applied = sum(
            (
                i.credit_applied
                for (t, _), i in self.invoices.items()
                if t == tenant_id and i.status is InvoiceStatus.FINALIZED
            ),
            Decimal(0),
        )
        return sum(self.grants.values(), Decimal(0)) - applied

    async def add_credit_grant(self, source_event_id: UUID, grant: CreditGrant) -> bool:
        if grant.grant_id in self.grants:
            return False
        self.grants[grant.grant_id] = grant.amount
        return True

    async def draft_periods(self, tenant_id: str) -> Sequence[str]:
        return sorted(
            p for (t, p), i in self.invoices.items() if t == tenant_id and i.status is InvoiceStatus.DRAFT
        )

    async def open_invoice(self, tenant_id: str, period: str) -> BillingInvoice | None:
        return self.invoices.get((tenant_id, period))

    async def invoice_by_id(self, tenant_id: str, invoice_id: str) -> BillingInvoice | None:
        every = [*self.invoices.values(), *self.voided]
        return next((i for i in every if (i.tenant_id, i.invoice_id) == (tenant_id, invoice_id)), None)

    async def void_invoice(self, voided: BillingInvoice, at: datetime) -> None:
        del self.invoices[(voided.tenant_id, voided.period)]
        self.voided.append(voided)

    async def mark_dirty(self, tenant_id: str, period: str) -> None:
        self.dirty.add((tenant_id, period))

    async def clear_dirty(self, tenant_id: str, period: str) -> None:
        self.dirty.discard((tenant_id, period))

    async def claim_due_tenants(self, published_before: datetime, limit: int) -> Sequence[TenantAccount]:
        due = sorted(
            tenant_id
            for tenant_id, tenant in self.tenants.items()
            if any(t == tenant_id for t, _ in self.dirty)
            and (tenant.last_published_at is None or tenant.last_published_at <= published_before)
        )
        return [TenantAccount(t, self.tenants[t].currency) for t in due[:limit]]

    async def take_dirty_periods(self, tenant_id: str) -> list[str]:
        periods = sorted(p for t, p in self.dirty if t == tenant_id)
        self.dirty -= {(tenant_id, p) for p in periods}
        return periods

    async def mark_published(self, tenant_id: str, at: datetime) -> None:
        self.tenants[tenant_id].last_published_at = at


@dataclass
class RecordingOutbox:
    events: list[Event] = field(default_factory=list)

    async def emit(self, event: Event) -> None:
        self.events.append(event)
