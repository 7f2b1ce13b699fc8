"""The port the usage pipeline writes through: raw events, rollups and usage charges.

A UsageLedger is bound to one open transaction, the one in which the consumer records the events as
processed: everything written through it commits, or rolls back, with that record (exactly once).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from services.metering.usage.domain.batch_rating import TenantBilling, UsageCharge
from services.metering.usage.domain.queries import UsageQuery, UsageRow
from services.metering.usage.domain.rollups import Cells
from shared.events.base import Event
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased


@dataclass(frozen=True)
class WaitingUsage:
    record: UsageRecorded
    reason: str  # why it cannot be billed yet
    since: datetime  # when it first had to wait


class UsageLedger(Protocol):
    async def billing_of(self, tenant_ids: Collection[str]) -> dict[str, TenantBilling]:
        """The known tenants among these, each locked until the transaction ends so that none of their
        invoices is finalized meanwhile (a lock that does not hold up draft snapshots)."""
        ...

    async def add_usage(self, records: Sequence[tuple[UsageRecorded, str]]) -> list[UsageRecorded]:
        """Keep each (record, billed period) raw; return the records kept, in order: not those kept
        before under the same event id (whatever the tenant), nor those whose source record (source,
        source_event_id) the tenant already has under another event id."""
        ...

    async def add_allocation(self, event: AllocationReleased, period: str) -> None:
        """Keep the released allocation raw, with the period that bills it."""
        ...

    async def add_rollups(self, minutes: Cells) -> None:
        """Merge minute cells into the minute rollups, and into the hour and day rollups (coarsened as
        usage_windows.coarsen does)."""
        ...

    async def add_usage_charges(self, charges: Sequence[UsageCharge]) -> None:
        """Add the charges to the invoices' usage charges (summed per price)."""
        ...

    async def mark_dirty(self, invoices: Collection[tuple[str, str]]) -> None:
        """(tenant, period) drafts to publish again."""
        ...

    async def wait(self, records: Sequence[tuple[UsageRecorded, str]], now: datetime) -> None:
        """Set (record, why) aside until its tenant can be billed; one already waiting keeps its `since`."""
        ...

    async def waiting(self, limit: int, expired_before: datetime) -> list[WaitingUsage]:
        """Up to `limit` waiting records that can be settled now: their tenant has a price book, or they
        have waited since before `expired_before`. Longest waiting first, locked until the transaction
        ends (a concurrent retry skips them). Records still unbillable are left out, so that they never
        stand in front of those that can go."""
        ...

    async def stop_waiting(self, event_ids: Collection[UUID]) -> None:
        """These records no longer wait (billed, refused or dead-lettered in this transaction)."""
        ...

    async def emit_all(self, events: Sequence[Event]) -> None:
        """Announce events (billing events), in one go: published only if the transaction commits."""
        ...

    async def reject(self, event: Event, reason: str) -> None:
        """Dead-letter one event with the reason, in this transaction; the rest of the batch goes on."""
        ...


class UsageReader(Protocol):
    async def usage(self, query: UsageQuery) -> list[UsageRow]:
        """The query's tenant's rollups, and nobody else's, ordered by window, project, GPU model, meter."""
        ...
