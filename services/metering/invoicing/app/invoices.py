"""Invoices priced by the invoice pricing engine (domain/invoice_pricing.py), through their life
(domain/lifecycle.py): draft snapshots, finalization, void with a replacement draft, and the
prepaid credit they draw down.

Each takes a MeteringStore bound to the consumer's (or publisher's) transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from pricing.credits import validate_credit_grant
from pricing.money import validate_currency
from pricing.periods import validate_period
from services.metering.domain.errors import (
    CurrencyMismatch,
    InvoiceNotFinalized,
    NotInvoiced,
    TenantNotYetKnown,
)
from services.metering.invoicing.app.ports import CreditGrant, MeteringStore, TenantAccount
from services.metering.invoicing.domain.charge_ledger import ChargeLedger, PriceBookVersions
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus
from services.metering.invoicing.domain.invoice_pricing import price_invoice
from services.metering.invoicing.domain.lifecycle import finalize, void
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import is_invoiced
from services.metering.platform.outbox import EventOutbox
from shared.events.gateway import CreditGranted, InvoiceFinalizeRequested, InvoiceVoidRequested
from shared.events.metering import InvoiceFinalized, InvoiceLine, InvoiceUpdated, InvoiceVoided

PUBLISH_BATCH = 100
SnapshotT = TypeVar("SnapshotT", InvoiceUpdated, InvoiceFinalized, InvoiceVoided)
_NO_PRICES = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _TenantPrices:
    """What pricing any of a tenant's invoices needs, read once per tenant."""

    versions: PriceBookVersions
    has_books: bool
    credit: Decimal

    @classmethod
    async def of(cls, store: MeteringStore, tenant: TenantAccount) -> _TenantPrices:
        books = await store.price_books(tenant.tenant_id)
        # A tenant without a price book has nothing billed: its invoices are priced empty.
        versions = PriceBookVersions(
            tenant.tenant_id, books or [PriceBook(tenant.tenant_id, tenant.currency, _NO_PRICES)]
        )
        return cls(versions, bool(books), await store.credit_balance(tenant.tenant_id))


async def price_open_invoice(
    store: MeteringStore,
    tenant: TenantAccount,
    period: str,
    prices: _TenantPrices | None = None,
    current: BillingInvoice | None = None,
) -> BillingInvoice:
    """The period's open invoice (its current revision, `current` if already read) priced now from the
    ledger, as a draft."""
    prices = prices or await _TenantPrices.of(store, tenant)
    current = current or await store.open_invoice(tenant.tenant_id, period)
    entries = (
        await store.ledger_entries(tenant.tenant_id, period, prices.versions) if prices.has_books else []
    )
    return price_invoice(
        ChargeLedger.from_entries(prices.versions, entries),
        period,
        tenant.currency,
        opening_credit=prices.credit,
        revision=current.revision if current else 1,
        replaces=current.replaces if current else None,
    )


async def finalize_invoice(
    store: MeteringStore, outbox: EventOutbox, event: InvoiceFinalizeRequested, now: datetime
) -> None:
    """Close the period: the invoice is priced from everything billed in it, frozen, and announced."""
    period = validate_period(event.period)
    if not is_invoiced(event.tenant_id):
        raise NotInvoiced(f"tenant {event.tenant_id} is not invoiced")
    tenant = await store.lock_tenant(event.tenant_id, exclusive=True)
    if tenant is None:
        raise TenantNotYetKnown(event.tenant_id)
    if await store.invoice_status(tenant.tenant_id, period) is InvoiceStatus.FINALIZED:
        return  # a repeated request: the invoice is already closed
    invoice = finalize(await price_open_invoice(store, tenant, period), now)
    await store.save_invoice(invoice, now)
    await store.clear_dirty(tenant.tenant_id, period)
    await outbox.emit(invoice_event(InvoiceFinalized, invoice, now))


async def publish_due_invoices(
    store: MeteringStore, outbox: EventOutbox, now: datetime, interval: timedelta, limit: int = PUBLISH_BATCH
) -> int:
    """Publish a fresh draft snapshot for each tenant whose invoices changed, at most one round per tenant
    per interval; returns how many tenants were claimed (== limit: there may be more)."""
    tenants = await store.claim_due_tenants(now - interval, limit)
    for tenant in tenants:
        prices: _TenantPrices | None = None
        for period in await store.take_dirty_periods(tenant.tenant_id):
            current = await store.open_invoice(tenant.tenant_id, period)
            if current is not None and current.status is InvoiceStatus.FINALIZED:
                continue
            prices = prices or await _TenantPrices.of(store, tenant)
            invoice = await price_open_invoice(store, tenant, period, prices, current)
            await store.save_invoice(invoice, now)
            await outbox.emit(invoice_event(InvoiceUpdated, invoice, now))
        await store.mark_published(tenant.tenant_id, now)
    return len(tenants)


async def void_invoice(
    store: MeteringStore, outbox: EventOutbox, event: InvoiceVoidRequested, now: datetime
) -> None:
    """Void a finalized invoice: kept, marked void; a replacement draft (priced now) opens its period."""
    tenant = await store.lock_tenant(event.tenant_id, exclusive=True)
    if tenant is None:
        raise TenantNotYetKnown(event.tenant_id)
    held = await store.invoice_by_id(tenant.tenant_id, event.invoice_id)
    if held is None:
        raise InvoiceNotFinalized(f"tenant {tenant.tenant_id} has no invoice {event.invoice_id}")
    if held.status is InvoiceStatus.VOID:
        return  # a repeated request
    voided, replacement = void(held, now, event.reason)
    await store.void_invoice(voided, now)
    await store.save_invoice(replacement, now)  # holds the period (and its revision) while repriced
    repriced = await price_open_invoice(store, tenant, held.period)
    await store.save_invoice(repriced, now)
    await outbox.emit(invoice_event(InvoiceVoided, voided, now))
    await outbox.emit(invoice_event(InvoiceUpdated, repriced, now))


async def grant_credit(store: MeteringStore, event: CreditGranted) -> None:
    """Prepaid credit for the tenant; its open drafts show it at their next snapshot."""
    tenant = await store.lock_tenant(event.tenant_id, exclusive=True)
    if tenant is None:
        raise TenantNotYetKnown(event.tenant_id)
    currency = validate_currency(event.currency)
    if currency != tenant.currency:
        raise CurrencyMismatch(
            f"credit in {currency} for tenant {tenant.tenant_id}, billed in {tenant.currency}"
        )
    amount = validate_credit_grant(event.amount, currency, "amount")
    grant = CreditGrant(event.grant_id, tenant.tenant_id, amount, currency, event.note, event.occurred_at)
    added = await store.add_credit_grant(event.event_id, grant)
    if added:
        for period in await store.draft_periods(tenant.tenant_id):
            await store.mark_dirty(tenant.tenant_id, period)


def invoice_event(kind: type[SnapshotT], invoice: BillingInvoice, now: datetime) -> SnapshotT:
    return kind(
        occurred_at=now,
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.invoice_id,
        period=invoice.period,
        status=invoice.status.value,
        currency=invoice.currency,
        lines=[
            InvoiceLine(
                project_id=line.project_id,
                meter=line.meter,
                gpu_model=line.gpu_model,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                amount=line.amount,
                kind=line.kind.value,
                usage_meter=line.usage_meter.value if line.usage_meter else None,
                list_amount=line.list_amount,
                adjusts_period=line.adjusts_period,
                commitment_id=line.commitment_id,
            )
            for line in invoice.lines
        ],
        total=invoice.total,
        subtotal=invoice.subtotal,
        credit_applied=invoice.credit_applied,
        revision=invoice.revision,
        replaces=invoice.replaces,
        void_reason=invoice.void_reason,
    )
