"""Rebuilding an invoice from the raw events billed in it, by the rules of rating.py and invoice.py.

The pipeline rates usage in batches (usage_billing.py) and keeps charges summed per price; a rebuild
rates every raw event on its own with rating.rate_usage / rate_allocation, as if it were the only one,
and must reach the same lines and totals. Each raw event keeps the period that bills it (decided once,
when it arrived: its own month, or the next open one when that month was already finalized), so the
rebuild places it where the pipeline did, whatever has been finalized since.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from services.metering.domain.invoice import Invoice, InvoiceLine
from services.metering.domain.meters import MeterName
from services.metering.domain.pricing import PriceBook
from services.metering.domain.rating import (
    AllocationInterval,
    Charge,
    UsageWindow,
    rate_allocation,
    rate_usage,
)

# project, meter, GPU model, unit price
_PriceKey = tuple[str, MeterName, str | None, Decimal]
_NOTHING_FINALIZED: frozenset[str] = frozenset()


@dataclass
class RebuiltCharges:
    """The charges of one invoice, rated event by event from the raw events and summed per price
    (amounts are linear in quantities, so summing changes no line); fed in chunks of any size."""

    books: Sequence[PriceBook]
    events: int = 0
    _sums: dict[_PriceKey, tuple[Decimal, datetime]] = field(default_factory=dict)

    def add_usage(self, windows: Iterable[UsageWindow]) -> None:
        for window in windows:
            self._add(rate_usage(window, self.books, _NOTHING_FINALIZED).charges)

    def add_allocations(self, intervals: Iterable[AllocationInterval]) -> None:
        for interval in intervals:
            self._add(rate_allocation(interval, self.books, _NOTHING_FINALIZED).charges)

    def charges(self) -> list[Charge]:
        return [
            Charge(project_id, meter, quantity, unit_price, priced_at, gpu_model)
            for (project_id, meter, gpu_model, unit_price), (quantity, priced_at) in self._sums.items()
        ]

    def _add(self, charges: Iterable[Charge]) -> None:
        self.events += 1
        for charge in charges:
            if charge.unit_price is None:
                continue
            key = (charge.project_id, charge.meter, charge.gpu_model, charge.unit_price)
            held = self._sums.get(key)
            if held is None:
                self._sums[key] = (charge.base_quantity, charge.priced_at)
            else:
                self._sums[key] = (held[0] + charge.base_quantity, max(held[1], charge.priced_at))


def invoice_differences(rebuilt: Invoice, kept: Invoice) -> list[str]:
    """What differs between two invoices of one tenant and period, line by line; [] when they agree."""
    differences: list[str] = []
    rebuilt_lines, kept_lines = _by_line(rebuilt.lines), _by_line(kept.lines)
    for key in sorted(rebuilt_lines.keys() | kept_lines.keys(), key=lambda k: (k[0], k[1], k[2] or "")):
        want, have = rebuilt_lines.get(key), kept_lines.get(key)
        if want != have:
            differences.append(f"line {'/'.join(part for part in key if part)}: kept {have}, rebuilt {want}")
    if rebuilt.total != kept.total:
        differences.append(f"total: kept {kept.total}, rebuilt {rebuilt.total}")
    return differences


def _by_line(
    lines: Iterable[InvoiceLine],
) -> dict[tuple[str, str, str | None], tuple[Decimal, Decimal, Decimal]]:
    return {
        (line.project_id, line.meter.value, line.gpu_model): (line.quantity, line.unit_price, line.amount)
        for line in lines
    }
