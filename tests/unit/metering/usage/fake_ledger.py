"""An in-memory UsageLedger, and the harness the ledger contract drives (the PostgreSQL one is in
tests/integration/metering/test_usage_ledger_postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID, uuid4

from pricing.meters import MeterName
from services.metering.invoicing.app.rating import allocation_interval
from services.metering.invoicing.domain.charge_ledger import (
    ChargeLedger,
    LedgerEntry,
    LedgerKey,
    PriceBookVersions,
)
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus
from services.metering.invoicing.domain.invoice_pricing import price_invoice
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import AllocationInterval, Charge, UsageWindow
from services.metering.usage.app.ports import WaitingUsage
from services.metering.usage.domain.batch_rating import TenantBilling, UsageCharge
from services.metering.usage.domain.rollups import GRAINS, Aggregate, CellKey, Cells, Grain, coarsen
from shared.events.base import Event
from shared.events.ingest import UsageRecorded
from shared.events.metering import UsageRated
from shared.events.scheduler import AllocationReleased
from tests.unit.metering.invoicing.builders import empty_invoice
from tests.unit.metering.invoicing.fake_store import FakeMeteringStore

# tenant, billed period, usage period, price-book version, project, meter
ChargeKey = tuple[str, str, str, datetime, str, str]
ChargeValue = tuple[Decimal, datetime, Decimal]  # quantity, latest priced instant, unit price
CellValues = tuple[Decimal, int, Decimal, Decimal, datetime]  # sum, count, max, latest, latest_at


@dataclass
class FakeUsageLedger:
    tenants: dict[str, TenantBilling] = field(default_factory=dict)
    usage: dict[tuple[str, str, str], tuple[UsageRecorded, str]] = field(default_factory=dict)
    allocations: list[tuple[AllocationReleased, str]] = field(default_factory=list)
    rollups: dict[Grain, dict[CellKey, Aggregate]] = field(default_factory=lambda: {g: {} for g in GRAINS})
    charges: dict[ChargeKey, ChargeValue] = field(default_factory=dict)
    dirty: set[tuple[str, str]] = field(default_factory=set)
    dead_letters: list[str] = field(default_factory=list)
    emitted: list[Event] = field(default_factory=list)
    waiting_usage: dict[UUID, WaitingUsage] = field(default_factory=dict)

    async def billing_of(self, tenant_ids: Collection[str]) -> dict[str, TenantBilling]:
        return {t: self.tenants[t] for t in tenant_ids if t in self.tenants}

    async def add_usage(self, records: Sequence[tuple[UsageRecorded, str]]) -> list[UsageRecorded]:
        kept = []
        ids = {record.event_id for record, _ in self.usage.values()}
        for record, period in records:
            key = (record.tenant_id, record.source, record.source_event_id)
            if key not in self.usage and record.event_id not in ids:
                self.usage[key] = (record, period)
                ids.add(record.event_id)
                kept.append(record)
        return kept

    async def add_allocation(self, event: AllocationReleased, period: str) -> None:
        self.allocations.append((event, period))

    async def add_rollups(self, minutes: Cells) -> None:
        for grain in GRAINS:
            cells = minutes if grain is Grain.MINUTE else coarsen(minutes, grain)
            held = self.rollups[grain]
            for key, cell in cells.items():
                if key in held:
                    held[key].merge(cell)
                else:
                    held[key] = Aggregate(cell.sum, cell.count, cell.max, cell.latest, cell.latest_at)

    async def add_usage_charges(self, charges: Sequence[UsageCharge]) -> None:
        for c in charges:
            key = (c.tenant_id, c.period, c.usage_period, c.version, c.project_id, c.meter.value)
            quantity, priced_at, _ = self.charges.get(key, (Decimal(0), c.priced_at, c.unit_price))
            self.charges[key] = (quantity + c.base_quantity, max(priced_at, c.priced_at), c.unit_price)

    async def mark_dirty(self, invoices: Collection[tuple[str, str]]) -> None:
        self.dirty |= set(invoices)

    async def emit_all(self, events: Sequence[Event]) -> None:
        self.emitted.extend(events)

    async def reject(self, event: Event, reason: str) -> None:
        self.dead_letters.append(f"rejected: {reason}")

    async def wait(self, records: Sequence[tuple[UsageRecorded, str]], now: datetime) -> None:
        for record, reason in records:
            since = (
                self.waiting_usage[record.event_id].since if record.event_id in self.waiting_usage else now
            )
            self.waiting_usage[record.event_id] = WaitingUsage(record, reason, since)

    async def waiting(self, limit: int, expired_before: datetime) -> list[WaitingUsage]:
        def settles(w: WaitingUsage) -> bool:
            tenant = self.tenants.get(w.record.tenant_id)
            return w.since < expired_before or (tenant is not None and bool(tenant.books))

        ready = [w for w in self.waiting_usage.values() if settles(w)]
        return sorted(ready, key=lambda w: (w.since, w.record.event_id))[:limit]

    async def stop_waiting(self, event_ids: Collection[UUID]) -> None:
        for event_id in event_ids:
            self.waiting_usage.pop(event_id, None)


class FakeLedgerHarness:
    """The fake ledger and the fake billing store, kept in step (both know the same tenants)."""

    def __init__(self) -> None:
        self.ledger = FakeUsageLedger()
        self.store = FakeMeteringStore()

    async def add_tenant(self, tenant: TenantBilling) -> None:
        self.ledger.tenants[tenant.tenant_id] = tenant
        await self.store.add_tenant(tenant.tenant_id, tenant.tenant_id, tenant.currency)
        for book in tenant.books:
            await self.store.add_price_book(uuid4(), book)
        for period in tenant.finalized:
            invoice = empty_invoice(tenant.tenant_id, period, tenant.currency, InvoiceStatus.FINALIZED)
            await self.store.save_invoice(invoice, datetime(2026, 1, 1))

    async def cells(self, grain: Grain) -> dict[CellKey, CellValues]:
        return {
            k: (c.sum, c.count, c.max, c.latest, c.latest_at) for k, c in self.ledger.rollups[grain].items()
        }

    async def usage_charges(self) -> dict[ChargeKey, ChargeValue]:
        return dict(self.ledger.charges)

    async def dirty(self) -> set[tuple[str, str]]:
        return set(self.ledger.dirty)

    async def dead_letters(self) -> list[str]:
        return list(self.ledger.dead_letters)

    async def usage_rated(self) -> list[UsageRated]:
        return [event for event in self.ledger.emitted if isinstance(event, UsageRated)]

    async def raw_usage(self) -> list[tuple[str, str]]:
        """(source_event_id, period billed) of each raw record kept."""
        return sorted((record.source_event_id, period) for record, period in self.ledger.usage.values())

    async def raw_allocations(self) -> list[tuple[str, str]]:
        """(allocation_id, period billed) of each raw allocation kept."""
        return sorted((event.allocation_id, period) for event, period in self.ledger.allocations)

    def raw_billing(self) -> FakeRawBilling:
        return FakeRawBilling(self.ledger, self.store)

    async def rated_charges(self, tenant_id: str, period: str) -> list[Charge]:
        """The charges of the rated allocations billed in the period."""
        items = self.store.items
        return [c for i in items if (i.tenant_id, i.period) == (tenant_id, period) for c in i.charges]


@dataclass
class FakeRawBilling:
    """The invoice rebuild's source over the fake ledger and store."""

    ledger: FakeUsageLedger
    store: FakeMeteringStore

    async def currency(self, tenant_id: str) -> str | None:
        tenant = self.store.tenants.get(tenant_id)
        return tenant.currency if tenant else None

    async def price_books(self, tenant_id: str) -> Sequence[PriceBook]:
        return await self.store.price_books(tenant_id)

    async def billed_periods(self, tenant_id: str) -> list[str]:
        periods = {p for r, p in self.ledger.usage.values() if r.tenant_id == tenant_id}
        periods |= {p for e, p in self.ledger.allocations if e.tenant_id == tenant_id}
        return sorted(periods | {p for t, p in self.store.invoices if t == tenant_id})

    async def raw_usage(self, tenant_id: str, period: str) -> AsyncIterator[Sequence[UsageWindow]]:
        records = [r for r, p in self.ledger.usage.values() if (r.tenant_id, p) == (tenant_id, period)]
        for start in range(0, len(records), 2):  # small chunks, as a cursor would hand them over
            yield [_window(record) for record in records[start : start + 2]]

    async def raw_allocations(
        self, tenant_id: str, period: str
    ) -> AsyncIterator[Sequence[AllocationInterval]]:
        yield [
            allocation_interval(e)
            for e, p in self.ledger.allocations
            if (e.tenant_id, p) == (tenant_id, period)
        ]

    async def kept_invoice(self, tenant_id: str, period: str) -> BillingInvoice:
        """The finalized invoice, or the draft as metering prices it (ledger_sources.py): from the kept
        allocations and the summed usage, the charge ledger's entries."""
        held = self.store.invoices.get((tenant_id, period))
        if held is not None and held.status is InvoiceStatus.FINALIZED:
            return held
        currency = await self.currency(tenant_id) or "USD"
        versions = PriceBookVersions(tenant_id, await self.price_books(tenant_id))
        entries = list(await self.store.ledger_entries(tenant_id, period, versions))
        entries += [
            LedgerEntry(LedgerKey(billed, usage, version, project, MeterName(meter), None), quantity)
            for (tenant, billed, usage, version, project, meter), (
                quantity,
                _,
                _,
            ) in self.ledger.charges.items()
            if tenant == tenant_id and quantity
        ]
        return price_invoice(ChargeLedger.from_entries(versions, entries), period, currency)


def _window(record: UsageRecorded) -> UsageWindow:
    return UsageWindow(
        source_event_id=record.event_id,
        tenant_id=record.tenant_id,
        project_id=record.project_id,
        source=record.source,
        source_id=record.source_event_id,
        window_start=record.window_start,
        window_end=record.window_end,
        energy_j=record.energy_j,
        requests=record.requests,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
    )
