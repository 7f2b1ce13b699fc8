"""The usage pipeline's use cases: a batch of usage records, or one released allocation, into the raw
tables, the minute / hour / day rollups and the invoices' charges, in the consumer's transaction.

Bad input is dead-lettered with its reason and the rest of the batch still takes effect; usage of a
tenant not known yet (its TenantCreated or price book still on the way) is held back (UsageNotYetBillable
names its records): the rest of the batch takes effect, and only that usage waits, retried one record at
a time (and dead-lettered after the maximum deliveries with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from services.metering.app.ports import MeteringStore
from services.metering.app.usage_ports import UsageLedger
from services.metering.app.use_cases import allocation_interval, rate_released_allocation
from services.metering.domain.errors import NotYetKnown, PriceBookNotYetKnown, TenantNotYetKnown
from services.metering.domain.rating import is_invoiced
from services.metering.domain.usage_billing import UsageRater
from services.metering.domain.usage_checks import UsageLimits, UsageRejected, sort_out, time_problem
from services.metering.domain.usage_meters import allocation_readings, record_readings
from services.metering.domain.usage_windows import Grain, roll_up
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased


class UsageNotYetBillable(NotYetKnown):
    """Usage of tenants metering does not know yet, or that have no price book yet: those records wait
    (the consumer retries them), the rest of the batch goes on."""

    code = "usage_not_yet_billable"

    def __init__(self, event_ids: Sequence[UUID], causes: Sequence[NotYetKnown]) -> None:
        super().__init__("; ".join(str(cause) for cause in causes))
        self.event_ids = list(event_ids)
        self.causes = list(causes)


@dataclass(frozen=True)
class UsageBatchResult:
    recorded: int
    duplicates: int  # the same source record again, under another event id
    rejected: int


async def record_usage(
    ledger: UsageLedger, records: Sequence[UsageRecorded], now: datetime, limits: UsageLimits
) -> UsageBatchResult:
    # 1. Refuse what can never be billed, each with its reason.
    accepted, refused = sort_out(records, now, limits)
    for record, reason in refused:
        await ledger.reject(record, reason)
    # 2. The tenants' prices and closed periods, locked against finalization until commit.
    invoiced = {record.tenant_id for record in accepted if is_invoiced(record.tenant_id)}
    billing = await ledger.billing_of(invoiced)
    waiting = {
        tenant_id: TenantNotYetKnown(tenant_id)
        if tenant_id not in billing
        else PriceBookNotYetKnown(tenant_id)
        for tenant_id in sorted(invoiced)
        if tenant_id not in billing or not billing[tenant_id].books
    }
    if waiting:
        raise UsageNotYetBillable(
            [record.event_id for record in accepted if record.tenant_id in waiting], list(waiting.values())
        )
    rater = UsageRater(billing)
    # 3. Keep each source record once, raw, with the period that bills it.
    fresh = await ledger.add_usage([(record, rater.billed_period(record)) for record in accepted])
    # 4. Roll the readings up, 5. rate the records into invoice charges.
    percent_of: dict[float, Decimal] = {}
    readings = [reading for record in fresh for reading in record_readings(record, percent_of)]
    await ledger.add_rollups(roll_up(readings, Grain.MINUTE))
    charges = rater.charges(fresh)
    await ledger.add_usage_charges(charges)
    await ledger.mark_dirty({(charge.tenant_id, charge.period) for charge in charges})
    return UsageBatchResult(recorded=len(fresh), duplicates=len(accepted) - len(fresh), rejected=len(refused))


async def record_allocation(
    store: MeteringStore,
    ledger: UsageLedger,
    event: AllocationReleased,
    now: datetime,
    limits: UsageLimits,
) -> None:
    """Rate a released allocation (the billing rules of rating.py), keep it raw, roll its GPU-seconds up."""
    problem = time_problem("released_at", event.released_at, now, limits)
    if problem is not None:
        raise UsageRejected(f"allocation {event.allocation_id} of tenant {event.tenant_id}: {problem}")
    item = await rate_released_allocation(store, event)
    await ledger.add_allocation(event, item.period)
    await ledger.add_rollups(roll_up(allocation_readings(allocation_interval(event)), Grain.MINUTE))
