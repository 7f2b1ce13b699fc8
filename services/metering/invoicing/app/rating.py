"""Rating's use cases: record tenants and their price books, rate released allocations (invoices:
invoices.py; usage records are rated in batches by the usage pipeline, usage/app/use_cases.py).

Each takes a MeteringStore bound to the consumer's transaction. Domain errors pass through: the bus
adapter dead-letters RejectedInput and retries NotYetKnown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pricing.money import validate_currency
from services.metering.domain.errors import (
    CurrencyMismatch,
    DuplicateSource,
    PriceBookNotYetKnown,
)
from services.metering.invoicing.app.ports import MeteringStore
from services.metering.invoicing.app.price_book_specs import price_book_of_event
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import (
    AllocationInterval,
    RatedItem,
    is_invoiced,
    rate_allocation,
)
from shared.events.gateway import PriceBookSet, TenantCreated
from shared.events.scheduler import AllocationReleased

log = logging.getLogger(__name__)

# Rates one item given the tenant's price-book versions and finalized periods.
_Rater = Callable[[Sequence[PriceBook], set[str]], RatedItem]


async def record_tenant(store: MeteringStore, event: TenantCreated) -> None:
    # A price book that arrived first already created the tenant in its own currency: that one stays.
    await store.add_tenant(event.tenant_id, event.name, validate_currency(event.currency))


async def record_price_book(store: MeteringStore, event: PriceBookSet) -> None:
    book = price_book_of_event(event)
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
        gpu_share=event.gpu_share,
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
