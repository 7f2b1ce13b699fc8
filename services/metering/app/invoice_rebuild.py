"""The invoice rebuild: recompute a tenant's invoice from the raw events billed in it, and compare it
with the invoice metering keeps (the finalized one, or the draft its accumulated charges price now).

Read from one consistent snapshot (the source's job), so usage that lands meanwhile is in both or in
neither. Raw events are read in chunks: a month of a large tenant's samples need not fit in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.metering.domain.errors import TenantNotYetKnown
from services.metering.domain.invoice import Invoice, build_invoice
from services.metering.domain.invoice_rebuild import RebuiltCharges, invoice_differences
from services.metering.domain.periods import validate_period
from services.metering.domain.pricing import PriceBook
from services.metering.domain.rating import AllocationInterval, Charge, UsageWindow


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

    async def kept_charges(self, tenant_id: str, period: str) -> Sequence[Charge]:
        """The charges the pipeline accumulated for the period (what its drafts are priced from)."""
        ...

    async def finalized_invoice(self, tenant_id: str, period: str) -> Invoice | None: ...


@dataclass(frozen=True)
class InvoiceRebuild:
    rebuilt: Invoice
    kept: Invoice  # the finalized invoice, or the draft as the accumulated charges price it now
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
    # 1. Rate every raw event billed in the period on its own, 2. build the invoice from those charges.
    rebuilt = RebuiltCharges(await source.price_books(tenant_id))
    async for windows in source.raw_usage(tenant_id, period):
        rebuilt.add_usage(windows)
    async for intervals in source.raw_allocations(tenant_id, period):
        rebuilt.add_allocations(intervals)
    # 3. The invoice metering keeps, in the same status, so that only the figures are compared.
    kept = await source.finalized_invoice(tenant_id, period)
    if kept is None:
        kept = build_invoice(tenant_id, period, currency, await source.kept_charges(tenant_id, period))
    invoice = build_invoice(tenant_id, period, currency, rebuilt.charges(), kept.status)
    return InvoiceRebuild(invoice, kept, rebuilt.events, invoice_differences(invoice, kept))


async def rebuild_invoices(
    source: RawBillingSource, tenant_id: str, periods: Sequence[str] = ()
) -> list[InvoiceRebuild]:
    """The given periods of the tenant, or every period billed so far."""
    wanted = list(periods) or await source.billed_periods(tenant_id)
    return [await rebuild_invoice(source, tenant_id, period) for period in wanted]
