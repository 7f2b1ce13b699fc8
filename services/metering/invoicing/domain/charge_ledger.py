"""The charge ledger: a tenant's rated quantities summed per invoice period, usage period, price-book
version, project, meter and GPU model. Invoices are priced from it (invoice_pricing.py).

It is the incremental path: each rated item adds its entries (ledger_entries) and the sums are all an
invoice needs, so a pipeline may keep them as rows (add the deltas in the transaction that rates the
item) and load them back with ChargeLedger.from_entries. Sums are exact and commutative, so any order
or batching of the same items gives the same ledger, and the same invoice as rebuilding from the items.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pricing.meters import MeterName
from pricing.money import EXACT
from pricing.periods import as_utc
from services.metering.domain.errors import ForeignTenantItem, PriceBookNotYetKnown
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import Charge, RatedItem, is_invoiced


@dataclass(frozen=True, order=True)
class LedgerKey:
    billing_period: str  # the invoice that bills it
    usage_period: str  # the month the usage belongs to (earlier: an adjustment)
    version: datetime  # effective_from of the price-book version that prices it
    project_id: str
    meter: MeterName
    gpu_model: str | None  # only for gpu_hours


@dataclass(frozen=True)
class LedgerEntry:
    key: LedgerKey
    base_quantity: Decimal  # GPU-seconds, joules, tokens or requests


class PriceBookVersions:
    """A tenant's price-book versions, found by the instant they price (rules of price_books.py)."""

    def __init__(self, tenant_id: str, versions: Sequence[PriceBook]) -> None:
        if not versions:
            raise PriceBookNotYetKnown(tenant_id)
        by_start: dict[datetime, PriceBook] = {}
        for book in sorted(versions, key=lambda b: as_utc(b.effective_from)):
            by_start[as_utc(book.effective_from)] = book  # on equal times the one given last wins
        self.tenant_id = tenant_id
        self._starts = sorted(by_start)
        self._books = by_start

    def version_at(self, moment: datetime) -> datetime:
        """The effective_from of the version in effect (the first version before any)."""
        index = bisect_right(self._starts, as_utc(moment)) - 1
        return self._starts[max(index, 0)]

    def book(self, version: datetime) -> PriceBook:
        return self._books[version]

    def books(self) -> list[PriceBook]:
        """One book per version, oldest first."""
        return [self._books[start] for start in self._starts]

    def starts(self) -> list[datetime]:
        """Every version's effective_from (UTC), oldest first."""
        return list(self._starts)

    def book_at(self, moment: datetime) -> PriceBook:
        return self._books[self.version_at(moment)]


def ledger_entries(item: RatedItem, versions: PriceBookVersions) -> list[LedgerEntry]:
    """What one rated item adds to its tenant's ledger (nothing for the unbilled fleet tenant)."""
    if not is_invoiced(item.tenant_id):
        return []
    if item.tenant_id != versions.tenant_id:
        raise ForeignTenantItem(
            f"{item.source_key} belongs to tenant {item.tenant_id}, not to {versions.tenant_id}"
        )
    return [
        charge_entry(charge, item.period, item.usage_period, versions)
        for charge in item.charges
        if charge.base_quantity != 0
    ]


def charge_entry(
    charge: Charge, billing_period: str, usage_period: str, versions: PriceBookVersions
) -> LedgerEntry:
    gpu_model = charge.gpu_model if charge.meter is MeterName.GPU_HOURS else None
    key = LedgerKey(
        billing_period=billing_period,
        usage_period=usage_period,
        version=versions.version_at(charge.priced_at),
        project_id=charge.project_id,
        meter=charge.meter,
        gpu_model=gpu_model,
    )
    return LedgerEntry(key, charge.base_quantity)


class ChargeLedger:
    def __init__(self, versions: PriceBookVersions) -> None:
        self.versions = versions
        self._sums: dict[LedgerKey, Decimal] = {}

    @classmethod
    def from_entries(cls, versions: PriceBookVersions, entries: Iterable[LedgerEntry]) -> ChargeLedger:
        ledger = cls(versions)
        ledger.add(entries)
        return ledger

    @property
    def tenant_id(self) -> str:
        return self.versions.tenant_id

    def add(self, entries: Iterable[LedgerEntry]) -> None:
        for entry in entries:
            self._sums[entry.key] = EXACT.add(self._sums.get(entry.key, Decimal(0)), entry.base_quantity)

    def add_rated_item(self, item: RatedItem) -> None:
        self.add(ledger_entries(item, self.versions))

    def entries(self) -> list[LedgerEntry]:
        return [LedgerEntry(key, quantity) for key, quantity in sorted(self._sums.items())]

    def select(self, *, usage_period: str, billed_in: Iterable[str]) -> Iterator[LedgerEntry]:
        """The entries of one usage period billed in the given invoice periods."""
        periods = set(billed_in)
        for key, quantity in self._sums.items():
            if key.usage_period == usage_period and key.billing_period in periods:
                yield LedgerEntry(key, quantity)

    def periods(self) -> set[tuple[str, str]]:
        """(billing period, usage period) pairs present."""
        return {(key.billing_period, key.usage_period) for key in self._sums}
