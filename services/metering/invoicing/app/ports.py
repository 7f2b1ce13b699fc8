"""The port invoicing's use cases work through: tenants, price books, rated items and invoices.

A MeteringStore is bound to one open transaction: what a use case writes through it commits or rolls
back together with the consumer's processed-event record and the outbox rows it emits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from services.metering.invoicing.domain.charge_ledger import LedgerEntry, PriceBookVersions
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import RatedItem


@dataclass(frozen=True)
class TenantAccount:
    tenant_id: str
    currency: str


@dataclass(frozen=True)
class CreditGrant:
    grant_id: str
    tenant_id: str
    amount: Decimal
    currency: str
    note: str
    granted_at: datetime


class MeteringStore(Protocol):
    async def add_tenant(self, tenant_id: str, name: str, currency: str) -> bool:
        """Create the tenant unless it exists; True when created."""
        ...

    async def lock_tenant(self, tenant_id: str, *, exclusive: bool) -> TenantAccount | None:
        """The tenant, locked until the transaction ends: shared while rating, exclusive while closing
        an invoice, so that no charge lands in a period while it is being finalized."""
        ...

    async def set_currency(self, tenant_id: str, currency: str) -> None: ...

    async def has_rated_items(self, tenant_id: str) -> bool: ...

    async def add_price_book(self, source_event_id: UUID, book: PriceBook) -> None: ...

    async def price_books(self, tenant_id: str) -> Sequence[PriceBook]:
        """Every version, oldest effective_from first (ties in arrival order)."""
        ...

    async def finalized_periods(self, tenant_id: str) -> set[str]: ...

    async def add_rated_item(self, item: RatedItem) -> UUID | None:
        """Store the item; None when stored, else the event id that already holds its source_key."""
        ...

    async def invoice_status(self, tenant_id: str, period: str) -> InvoiceStatus | None:
        """The status of the period's invoice that is not void, if any."""
        ...

    async def save_invoice(self, invoice: BillingInvoice, at: datetime) -> None:
        """Insert or replace the period's draft; a finalized or void invoice is never replaced."""
        ...

    async def ledger_entries(
        self, tenant_id: str, period: str, versions: PriceBookVersions
    ) -> Sequence[LedgerEntry]:
        """What pricing the period's invoice needs (invoice_pricing.price_invoice): the entries billed in
        it and, for each earlier usage period it bills late usage of, that period's entries billed before."""
        ...

    async def credit_balance(self, tenant_id: str) -> Decimal:
        """Credit granted less the credit finalized invoices applied."""
        ...

    async def add_credit_grant(self, source_event_id: UUID, grant: CreditGrant) -> bool:
        """False when the grant was already recorded."""
        ...

    async def draft_periods(self, tenant_id: str) -> Sequence[str]: ...

    async def open_invoice(self, tenant_id: str, period: str) -> BillingInvoice | None:
        """The period's draft or finalized invoice (not a void one)."""
        ...

    async def invoice_by_id(self, tenant_id: str, invoice_id: str) -> BillingInvoice | None: ...

    async def void_invoice(self, voided: BillingInvoice, at: datetime) -> None:
        """Mark the finalized invoice void (nothing else of it changes)."""
        ...

    async def mark_dirty(self, tenant_id: str, period: str) -> None: ...

    async def clear_dirty(self, tenant_id: str, period: str) -> None: ...

    async def claim_due_tenants(self, published_before: datetime, limit: int) -> Sequence[TenantAccount]:
        """Tenants with dirty invoices, last published before the given time (or never), locked so that
        other replicas skip them."""
        ...

    async def take_dirty_periods(self, tenant_id: str) -> list[str]:
        """The tenant's dirty periods, cleared."""
        ...

    async def mark_published(self, tenant_id: str, at: datetime) -> None: ...
