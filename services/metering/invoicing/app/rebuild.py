"""The invoice rebuild: recompute a tenant's invoice from the raw events, and compare it with the
invoice metering keeps (the finalized one, or the draft as the invoice pricing engine prices it now).

Read from one consistent snapshot (the source's job), so usage that lands meanwhile is in both or in
neither. Raw events are read in chunks. Late usage of an earlier, finalized month needs that month's
own events too (its adjustment is priced against them), so those are read as well. Prepaid credit is
not an event: the rebuilt invoice starts from the kept one's opening balance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from pricing.periods import validate_period
from services.metering.domain.errors import TenantNotYetKnown
from services.metering.invoicing.domain.invoice import BillingInvoice
from services.metering.invoicing.domain.invoice_pricing import rebuild_invoice as price_rebuilt_invoice
from services.metering.invoicing.domain.ledger_sources import periods_from
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import AllocationInterval, UsageWindow
from services.metering.invoicing.domain.rebuild import RebuiltItems, invoice_differences


class RawBillingSource(Protocol):
    async def currency(self, tenant_id: str) -> str | None:
        """The tenant's currency, or None for a tenant metering does not know."""
        ...

    async def price_books(self, tenant_id: str) -> Sequence[PriceBook]: ...

    async def billed_periods(self, tenant_id: str) -> list[str]:
        """Every period with a raw event billed in it or an invoice, oldest first."""
        ...

    def raw_usage(self, tenant_id: str, period: str) -> AsyncIterator[Sequence[UsageWindow]]:
        """The usage records billed in the period, in chunks."""
        ...

    def raw_allocations(self, tenant_id: str, period: str) -> AsyncIterator[Sequence[AllocationInterval]]:
        """The released allocations billed in the period, in chunks."""
        ...

    async def kept_invoice(self, tenant_id: str, period: str) -> BillingInvoice:
        """The period's finalized invoice, or its draft as the invoice pricing engine prices it now."""
        ...


@dataclass(frozen=True)
class InvoiceRebuild:
    rebuilt: BillingInvoice
    kept: BillingInvoice
    raw_events: int
    differences: list[str]

    @property
    def matches(self) -> bool:
        return not self.differences


async def rebuild_invoice(source: RawBillingSource, tenant_id: str, period: str) -> InvoiceRebuild:
    validate_period(period)
    currency = await source.currency(tenant_id)
    if currency is None:
        raise TenantNotYetKnown(tenant_id)
    books = await source.price_books(tenant_id)
    # 1. Rate every raw event billed in the period on its own (and those of months it adjusts).
    rebuilt = RebuiltItems(books)
    await _read_period(source, tenant_id, period, rebuilt)
    own_events = rebuilt.events
    late = rebuilt.late_usage_periods(period)
    if late:
        for earlier in periods_from(late[0], period):
            await _read_period(source, tenant_id, earlier, rebuilt)
    # 2. Price them as the invoice pricing engine does, in the kept invoice's status, revision and credit.
    kept = await source.kept_invoice(tenant_id, period)
    invoice = (
        price_rebuilt_invoice(
            rebuilt.items,
            books,
            period,
            tenant_id=tenant_id,
            currency=currency,
            opening_credit=kept.credit_opening,
            status=kept.status,
            revision=kept.revision,
            replaces=kept.replaces,
        )
        if books
        else kept
    )
    return InvoiceRebuild(invoice, kept, own_events, invoice_differences(invoice, kept))


async def _read_period(source: RawBillingSource, tenant_id: str, period: str, rebuilt: RebuiltItems) -> None:
    async for windows in source.raw_usage(tenant_id, period):
        rebuilt.add_usage(windows, period)
    async for intervals in source.raw_allocations(tenant_id, period):
        rebuilt.add_allocations(intervals, period)


async def rebuild_invoices(
    source: RawBillingSource, tenant_id: str, periods: Sequence[str] = ()
) -> list[InvoiceRebuild]:
    """The given periods of the tenant, or every period billed so far."""
    wanted = list(periods) or await source.billed_periods(tenant_id)
    return [await rebuild_invoice(source, tenant_id, period) for period in wanted]
