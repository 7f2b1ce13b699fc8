"""Rating a batch of usage records at once, by the rules of rating.py.

The charge ledger (charge_ledger.py) sums quantities per billed period, usage period, price-book
version, project and meter, and an invoice is priced from those sums (plans and commitments apply to
them, not to single records). So a batch of thousands of records becomes a handful of charges, one per
such group, each rated by rating.rate_usage itself (the billing rules stay in one place); a charge's
priced_at is the latest window_start of the records that carry its meter. The pipeline adds them up in
rated_usage under the same key, which is all a draft invoice needs: never the raw records.
tests/unit/metering/usage/test_usage_billing.py checks the charges against rating records one by one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pricing.meters import MeterName
from pricing.periods import as_utc, open_period, period_of
from services.metering.domain.errors import PriceBookNotYetKnown
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import UsageWindow, is_invoiced, rate_usage
from shared.events.ingest import UsageRecorded

_GROUP_ID = UUID(int=0)  # a rated group is no single event


@dataclass(frozen=True)
class TenantBilling:
    """What rating a tenant's usage needs: its price-book versions (in effect order) and closed periods."""

    tenant_id: str
    currency: str
    books: tuple[PriceBook, ...]
    finalized: frozenset[str]
    _starts: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Stable: versions with the same effective_from keep their order, and the last one wins.
        ordered = tuple(sorted(self.books, key=lambda book: as_utc(book.effective_from)))
        object.__setattr__(self, "books", ordered)
        object.__setattr__(self, "_starts", tuple(as_utc(book.effective_from) for book in ordered))

    def version_at(self, at: datetime) -> int:
        """The index of the version in effect at `at` (pricing.price_book_in_effect's rule: the first
        version prices what came before it)."""
        if not self.books:
            raise PriceBookNotYetKnown(self.tenant_id)
        if len(self.books) == 1:
            return 0
        return max(bisect_right(self._starts, as_utc(at)) - 1, 0)

    def open_period(self, natural: str) -> str:
        return open_period(natural, self.finalized) if natural in self.finalized else natural


@dataclass(frozen=True, slots=True)
class UsageCharge:
    """Usage of one meter of one project, from one month (usage_period), priced by one price-book
    version, billed on one invoice (tenant, period): the charge ledger's own key (charge_ledger.py),
    so an invoice is priced from these sums alone, tiers, commitments and late usage included."""

    tenant_id: str
    period: str
    usage_period: str
    version: datetime  # the effective_from of the price-book version that prices it
    project_id: str
    meter: MeterName
    unit_price: Decimal  # that version's (reference) price of the meter
    base_quantity: Decimal
    priced_at: datetime


# tenant, project, natural period, price-book version, meter
_GroupKey = tuple[str, str, str, int, MeterName]


@dataclass(slots=True)
class _Group:
    """Usage of one meter that one price-book version prices and one period bills."""

    quantity: Decimal
    last_start: datetime  # the latest priced instant: the invoice line shows the newest price
    last_end: datetime


class UsageRater:
    """Rates one batch for the tenants in `billing`. A batch shares few distinct instants, so each is
    converted (to UTC, to a period, to a price-book version) once."""

    def __init__(self, billing: Mapping[str, TenantBilling]) -> None:
        self._billing = billing
        self._utc: dict[datetime, datetime] = {}
        self._period: dict[datetime, str] = {}

    def _as_utc(self, at: datetime) -> datetime:
        utc = self._utc.get(at)
        if utc is None:
            utc = self._utc[at] = as_utc(at)
        return utc

    def natural_period(self, record: UsageRecorded) -> str:
        period = self._period.get(record.window_end)
        if period is None:
            period = self._period[record.window_end] = period_of(self._as_utc(record.window_end))
        return period

    def billed_period(self, record: UsageRecorded) -> str:
        """The invoice period that bills the record (its own month for the fleet, never invoiced)."""
        natural = self.natural_period(record)
        if not is_invoiced(record.tenant_id):
            return natural
        return self._billing[record.tenant_id].open_period(natural)

    def charges(self, records: Iterable[UsageRecorded]) -> list[UsageCharge]:
        """The charges of invoiced tenants' records, one per (tenant, project, usage period, price-book
        version, meter): one billed period each, the open one for the usage period."""
        groups: dict[_GroupKey, _Group] = {}
        for record in records:
            if not is_invoiced(record.tenant_id):
                continue
            quantities = (
                (MeterName.ENERGY_KWH, record.energy_j),
                (MeterName.TOKENS_1K, record.input_tokens + record.output_tokens),
                (MeterName.REQUESTS, record.requests),
            )
            if not any(quantity for _, quantity in quantities):
                continue  # nothing billable (a sample's utilization is showback only)
            start, end = self._as_utc(record.window_start), self._as_utc(record.window_end)
            period = self.natural_period(record)
            version = self._billing[record.tenant_id].version_at(start)
            for meter, quantity in quantities:
                if not quantity:
                    continue
                key = (record.tenant_id, record.project_id, period, version, meter)
                group = groups.get(key)
                if group is None:
                    groups[key] = _Group(Decimal(quantity), start, end)
                    continue
                group.quantity += quantity
                if start > group.last_start:
                    group.last_start = start
                if end > group.last_end:
                    group.last_end = end
        charges: list[UsageCharge] = []
        for (tenant_id, project_id, usage_period, version, meter), group in groups.items():
            charges += _rate_group(self._billing[tenant_id], project_id, usage_period, version, meter, group)
        return charges


def _rate_group(
    tenant: TenantBilling, project_id: str, usage_period: str, version: int, meter: MeterName, group: _Group
) -> Sequence[UsageCharge]:
    # Every record of the group is priced by this one version, so its latest start is too; and every
    # one ends in the group's natural period, so its latest end is too.
    window = UsageWindow(
        source_event_id=_GROUP_ID,
        tenant_id=tenant.tenant_id,
        project_id=project_id,
        source="batch",
        source_id="group",
        window_start=group.last_start,
        window_end=group.last_end,
        energy_j=group.quantity if meter is MeterName.ENERGY_KWH else Decimal(0),
        requests=int(group.quantity) if meter is MeterName.REQUESTS else 0,
        input_tokens=int(group.quantity) if meter is MeterName.TOKENS_1K else 0,
    )
    item = rate_usage(window, [tenant.books[version]], tenant.finalized)
    return [
        UsageCharge(
            tenant_id=tenant.tenant_id,
            period=item.period,
            usage_period=usage_period,
            version=as_utc(tenant.books[version].effective_from),
            project_id=project_id,
            meter=charge.meter,
            unit_price=charge.unit_price,
            base_quantity=charge.base_quantity,
            priced_at=charge.priced_at,
        )
        for charge in item.charges
        if charge.unit_price is not None
    ]
