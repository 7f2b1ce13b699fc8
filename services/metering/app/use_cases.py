"""Metering's use cases: record tenants and price books, rate usage, finalize and publish invoices.

Each takes a MeteringStore bound to the consumer's transaction. Domain errors pass through: the bus
adapter dead-letters RejectedInput and retries NotYetKnown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from services.metering.app.ports import EventOutbox, MeteringStore
from services.metering.domain.errors import (
    CurrencyMismatch,
    DuplicateSource,
    NotInvoiced,
    PriceBookNotYetKnown,
    TenantNotYetKnown,
)
from services.metering.domain.invoice import Invoice, InvoiceStatus, build_invoice
from services.metering.domain.money import normalize_currency
from services.metering.domain.periods import validate_period
from services.metering.domain.pricing import PriceBook
from services.metering.domain.rating import (
    AllocationInterval,
    RatedItem,
    UsageWindow,
    is_invoiced,
    rate_allocation,
    rate_usage,
)
from shared.events.gateway import InvoiceFinalizeRequested, PriceBookSet, TenantCreated
from shared.events.ingest import UsageRecorded
from shared.events.metering import InvoiceFinalized, InvoiceLine, InvoiceUpdated
from shared.events.scheduler import AllocationReleased

log = logging.getLogger(__name__)

PUBLISH_BATCH = 100

SnapshotT = TypeVar("SnapshotT", InvoiceUpdated, InvoiceFinalized)
# Rates one item given the tenant's price-book versions and finalized periods.
_Rater = Callable[[Sequence[PriceBook], set[str]], RatedItem]


async def record_tenant(store: MeteringStore, event: TenantCreated) -> None:
    # A price book that arrived first already created the tenant in its own currency: that one stays.
    await store.add_tenant(event.tenant_id, event.name, normalize_currency(event.currency))


async def record_price_book(store: MeteringStore, event: PriceBookSet) -> None:
    book = PriceBook(
        tenant_id=event.tenant_id,
        currency=event.currency,
        effective_from=event.occurred_at,
        gpu_hour=event.gpu_hour,
        per_1k_tokens=event.per_1k_tokens,
        per_request=event.per_request,
        per_kwh=event.per_kwh,
    ).validated()
    tenant = await store.lock_tenant(event.tenant_id, exclusive=True)
    if tenant is None:
        await store.add_tenant(event.tenant_id, event.tenant_id, book.currency)
    elif tenant.currency != book.currency:
        # Rated charges are in the old currency; mixing currencies on one invoice would be wrong.
        if await store.has_rated_items(event.tenant_id):
            raise CurrencyMismatch(
                f"price book in {book.currency} for tenant {event.tenant_id}, which is already billed "
                f"in {tenant.currency}"
            )
        await store.set_currency(event.tenant_id, book.currency)
    await store.add_price_book(event.event_id, book)


def allocation_interval(event: AllocationReleased) -> AllocationInterval:
    return AllocationInterval(
        source_event_id=event.event_id,
        tenant_id=event.tenant_id,
        project_id=event.project_id,
        allocation_id=event.allocation_id,
        gpu_model=event.gpu_model,
        gpu_count=event.gpu_count,
        bound_at=event.bound_at,
        released_at=event.released_at,
    )


async def rate_released_allocation(store: MeteringStore, event: AllocationReleased) -> RatedItem:
    """The allocation rated and stored; its period is the invoice that bills it."""
    interval = allocation_interval(event)
    if not is_invoiced(event.tenant_id):
        item = rate_allocation(interval, [], set())
        await _store_item(store, item)
        return item
    return await _rate_for_tenant(
        store, event.tenant_id, lambda books, closed: rate_allocation(interval, books, closed)
    )


async def rate_recorded_usage(store: MeteringStore, event: UsageRecorded) -> None:
    usage = UsageWindow(
        source_event_id=event.event_id,
        tenant_id=event.tenant_id,
        project_id=event.project_id,
        source=event.source,
        source_id=event.source_event_id,
        window_start=event.window_start,
        window_end=event.window_end,
        energy_j=event.energy_j,
        requests=event.requests,
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
    )
    if not is_invoiced(event.tenant_id):
        await _store_item(store, rate_usage(usage, [], set()))
        return
    await _rate_for_tenant(store, event.tenant_id, lambda books, closed: rate_usage(usage, books, closed))


async def _rate_for_tenant(store: MeteringStore, tenant_id: str, rate: _Rater) -> RatedItem:
    tenant = await store.lock_tenant(tenant_id, exclusive=False)
    if tenant is None:
        raise PriceBookNotYetKnown(tenant_id)
    item = rate(await store.price_books(tenant_id), await store.finalized_periods(tenant_id))
    if item.period != item.usage_period:
        log.info(
            "%s of %s billed in %s: %s is finalized",
            item.source_key,
            tenant_id,
            item.period,
            item.usage_period,
        )
    await _store_item(store, item)
    if item.charges:
        await store.mark_dirty(tenant_id, item.period)
    return item


async def _store_item(store: MeteringStore, item: RatedItem) -> None:
    holder = await store.add_rated_item(item)
    if holder is not None and holder != item.source_event_id:
        raise DuplicateSource(
            f"{item.source_key} of tenant {item.tenant_id} was already billed from event {holder}"
        )


async def finalize_invoice(
    store: MeteringStore, outbox: EventOutbox, event: InvoiceFinalizeRequested, now: datetime
) -> None:
    """Close the period: the invoice is rebuilt from every charge billed in it, frozen, and announced."""
    period = validate_period(event.period)
    if not is_invoiced(event.tenant_id):
        raise NotInvoiced(f"tenant {event.tenant_id} is not invoiced")
    tenant = await store.lock_tenant(event.tenant_id, exclusive=True)
    if tenant is None:
        raise TenantNotYetKnown(event.tenant_id)
    if await store.invoice_status(tenant.tenant_id, period) is InvoiceStatus.FINALIZED:
        return  # a repeated request: the invoice is already closed
    charges = await store.charges(tenant.tenant_id, period)
    invoice = build_invoice(tenant.tenant_id, period, tenant.currency, charges, InvoiceStatus.FINALIZED)
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
        for period in await store.take_dirty_periods(tenant.tenant_id):
            if await store.invoice_status(tenant.tenant_id, period) is InvoiceStatus.FINALIZED:
                continue
            charges = await store.charges(tenant.tenant_id, period)
            invoice = build_invoice(tenant.tenant_id, period, tenant.currency, charges)
            await store.save_invoice(invoice, now)
            await outbox.emit(invoice_event(InvoiceUpdated, invoice, now))
        await store.mark_published(tenant.tenant_id, now)
    return len(tenants)


def invoice_event(kind: type[SnapshotT], invoice: Invoice, now: datetime) -> SnapshotT:
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
                meter=line.meter.value,
                gpu_model=line.gpu_model,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for line in invoice.lines
        ],
        total=invoice.total,
    )
