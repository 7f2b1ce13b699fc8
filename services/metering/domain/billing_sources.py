"""Where a live invoice's billing ledger (billing_ledger.py) comes from, by rules the adapters follow.

1. Allocations: each rated allocation keeps its billed period, its usage period and the instant that
   priced it, so its entries are exact.
2. Usage records: the pipeline keeps their charges summed per billed period, project, meter and unit
   price (rated_usage). That is enough when
   a. no price-book version gives a usage meter (energy, tokens, requests) a plan: per-unit amounts are
      linear, so the version only has to carry the same unit price, and the version in effect at a
      charge's latest priced instant does (every group it sums shares that price); and
   b. the previous period was never closed (finalized or void): only then is everything billed in the
      period its own usage, with no late usage of a closed period (rule 3 of billing.py) mixed in.
   Otherwise the raw usage records are summed instead (exact, and slower).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from services.metering.domain.billing_ledger import LedgerEntry, LedgerKey, PriceBookVersions
from services.metering.domain.meters import MeterName
from services.metering.domain.periods import next_period, validate_period
from services.metering.domain.rating import Charge

USAGE_METERS = (MeterName.ENERGY_KWH, MeterName.TOKENS_1K, MeterName.REQUESTS)


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


def summed_usage_is_enough(versions: PriceBookVersions, previous_period_closed: bool) -> bool:
    """Rule 2: whether the pipeline's summed usage charges can stand for the raw records."""
    if previous_period_closed:
        return False
    return not any(meter in USAGE_METERS for book in versions.books() for meter, _ in book.plans)


def summed_charge_entry(
    versions: PriceBookVersions,
    period: str,
    project_id: str,
    meter: MeterName,
    base_quantity: Decimal,
    latest_priced_at: datetime,
    gpu_model: str | None = None,
) -> LedgerEntry:
    """A summed charge of the period's own usage (rule 2) as a ledger entry."""
    version = versions.version_at(latest_priced_at)
    key = LedgerKey(
        period, period, version, project_id, meter, gpu_model if meter is MeterName.GPU_HOURS else None
    )
    return LedgerEntry(key, base_quantity)


def summed_charge_entries(
    versions: PriceBookVersions, period: str, charges: Iterable[Charge]
) -> list[LedgerEntry]:
    return [
        summed_charge_entry(
            versions, period, c.project_id, c.meter, c.base_quantity, c.priced_at, c.gpu_model
        )
        for c in charges
        if c.unit_price is not None and c.base_quantity
    ]


def usage_record_entries(
    billing_period: str,
    usage_period: str,
    version: datetime,
    project_id: str,
    quantities: Iterable[tuple[MeterName, Decimal]],
) -> list[LedgerEntry]:
    """Raw usage records of one group summed per meter: their entries (zero quantities left out)."""
    return [
        LedgerEntry(LedgerKey(billing_period, usage_period, version, project_id, meter, None), quantity)
        for meter, quantity in quantities
        if quantity
    ]
