"""Where a live invoice's charge ledger (charge_ledger.py) comes from, by rules the adapters follow.

1. Allocations: each rated allocation keeps its billed period, its usage period and the instant that
   priced it, so its entries are exact.
2. Usage records: the pipeline keeps their quantities summed by the ledger's own key (billed period,
   usage period, price-book version, project, meter; batch_rating.py), so those sums are its entries,
   exact too, whatever the plans and however late the usage: never the raw records, whose number grows
   with the month.
3. An invoice that bills late usage of an earlier period also needs that period's usage billed before
   (the adjustment is the difference): the entries of every period from the earliest such one on.
"""

from __future__ import annotations

from pricing.periods import next_period, validate_period


def previous_period(period: str) -> str:
    year, month = (int(part) for part in validate_period(period).split("-"))
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def periods_from(first: str, before: str) -> list[str]:
    """The periods from `first` up to, not including, `before`."""
    periods, period = [], validate_period(first)
    while period < before:
        periods.append(period)
        period = next_period(period)
    return periods
