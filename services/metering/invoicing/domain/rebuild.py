"""Rebuilding an invoice from the raw events, by the rules of rating.py and invoice.py.

The pipeline rates usage in batches (batch_rating.py) and keeps charges summed; a rebuild rates every
raw event on its own with rating.rate_usage / rate_allocation, as if it were the only one, and prices
the invoice with invoice_pricing.rebuild_invoice: it must reach the same lines and totals. Each raw event
keeps the period that bills it (decided once, when it arrived: its own month, or the next open one when
that month was already finalized), so the rebuild places it where the pipeline did, whatever has been
finalized since; late usage of a finalized month is an adjustment line, priced against that month's
own events (invoice.py rule 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from services.metering.invoicing.domain.invoice import BillingInvoice, BillingLine
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import (
    AllocationInterval,
    RatedItem,
    UsageWindow,
    rate_allocation,
    rate_usage,
)

_NOTHING_FINALIZED: frozenset[str] = frozenset()


@dataclass
class RebuiltItems:
    """Raw events rated one by one, each billed in the period that billed it; fed in chunks."""

    books: Sequence[PriceBook]
    events: int = 0
    items: list[RatedItem] = field(default_factory=list)

    def add_usage(self, windows: Iterable[UsageWindow], billed_in: str) -> None:
        for window in windows:
            self._add(rate_usage(window, self.books, _NOTHING_FINALIZED), billed_in)

    def add_allocations(self, intervals: Iterable[AllocationInterval], billed_in: str) -> None:
        for interval in intervals:
            self._add(rate_allocation(interval, self.books, _NOTHING_FINALIZED), billed_in)

    def late_usage_periods(self, period: str) -> list[str]:
        """Earlier months whose usage `period` bills (as adjustments)."""
        return sorted({i.usage_period for i in self.items if i.period == period and i.usage_period < period})

    def _add(self, item: RatedItem, billed_in: str) -> None:
        self.events += 1
        self.items.append(replace(item, period=billed_in))


def invoice_differences(rebuilt: BillingInvoice, kept: BillingInvoice) -> list[str]:
    """What differs between two invoices of one tenant and period, line by line; [] when they agree."""
    differences: list[str] = []
    rebuilt_lines, kept_lines = _by_line(rebuilt.lines), _by_line(kept.lines)
    for key in sorted(rebuilt_lines.keys() | kept_lines.keys()):
        want, have = rebuilt_lines.get(key), kept_lines.get(key)
        if want != have:
            differences.append(f"line {'/'.join(part for part in key if part)}: kept {have}, rebuilt {want}")
    for name in ("subtotal", "credit_applied", "total"):
        want_total, have_total = getattr(rebuilt, name), getattr(kept, name)
        if want_total != have_total and (name == "total" or rebuilt.total == kept.total):
            differences.append(f"{name}: kept {have_total}, rebuilt {want_total}")
    return differences


def _by_line(lines: Iterable[BillingLine]) -> dict[tuple[str, ...], tuple[Decimal, Decimal, Decimal]]:
    return {
        (
            line.project_id or "",
            line.meter,
            line.usage_meter.value if line.usage_meter and line.usage_meter.value != line.meter else "",
            line.gpu_model or "",
            line.adjusts_period or "",
            line.commitment_id or "",
        ): (line.quantity, line.unit_price, line.amount)
        for line in lines
    }
