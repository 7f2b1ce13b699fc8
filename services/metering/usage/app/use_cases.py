"""The usage pipeline's use cases: a batch of usage records, or one released allocation, into the raw
tables, the minute / hour / day rollups and the invoices' charges, in the consumer's transaction.

Bad input is dead-lettered with its reason and the rest of the batch still takes effect. Usage of a
tenant that cannot be billed yet (metering does not know it, or it has no price book yet) waits: it is set
aside in the batch's transaction, the rest of the batch takes effect, and retry_waiting_usage bills it
once its tenant can be (rating.py rule 3: usage from before the first price book is priced with it), or
dead-letters it with the reason once it has waited longer than allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from services.metering.domain.errors import PriceBookNotYetKnown, TenantNotYetKnown
from services.metering.invoicing.app.ports import MeteringStore
from services.metering.invoicing.app.rating import allocation_interval, rate_released_allocation
from services.metering.invoicing.domain.rating import is_invoiced
from services.metering.usage.app.ports import UsageLedger
from services.metering.usage.app.rated_events import usage_batch_events
from services.metering.usage.domain.batch_rating import UsageRater
from services.metering.usage.domain.checks import UsageLimits, UsageRejected, sort_out, time_problem
from services.metering.usage.domain.readings import allocation_readings, record_readings
from services.metering.usage.domain.rollups import Grain, roll_up
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased


@dataclass(frozen=True)
class UsageBatchResult:
    recorded: int
    duplicates: int  # the same source record again, under another event id
    rejected: int
    waiting: tuple[UUID, ...] = ()  # the records set aside until their tenant can be billed


@dataclass(frozen=True)
class RetryResult:
    retried: int
    billed: UsageBatchResult
    expired: int  # waited too long: dead-lettered


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
    set_aside = [
        (record, str(waiting[record.tenant_id])) for record in accepted if record.tenant_id in waiting
    ]
    if set_aside:
        await ledger.wait(set_aside, now)
        accepted = [record for record in accepted if record.tenant_id not in waiting]
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
    # For external billing systems: UsageRated per tenant and period; the batch is named by its first record.
    if charges:
        currencies = {
            tenant_id: billing[tenant_id].currency for tenant_id in invoiced if tenant_id in billing
        }
        await ledger.emit_all(usage_batch_events(charges, currencies, str(fresh[0].event_id), now))
    return UsageBatchResult(
        recorded=len(fresh),
        duplicates=len(accepted) - len(fresh),
        rejected=len(refused),
        waiting=tuple(record.event_id for record, _ in set_aside),
    )


async def retry_waiting_usage(
    ledger: UsageLedger, now: datetime, limits: UsageLimits, max_wait_s: float, limit: int
) -> RetryResult:
    """Bill the waiting usage whose tenant can be billed now; dead-letter what waited too long."""
    expired_before = now - timedelta(seconds=max_wait_s)
    parked = await ledger.waiting(limit, expired_before)
    expired = [p for p in parked if p.since < expired_before]
    for item in expired:
        await ledger.reject(item.record, f"waited longer than {max_wait_s:g}s to be billed: {item.reason}")
    live = [p.record for p in parked if p.since >= expired_before]
    billed = await record_usage(ledger, live, now, limits)
    await ledger.stop_waiting({p.record.event_id for p in parked} - set(billed.waiting))
    return RetryResult(retried=len(live), billed=billed, expired=len(expired))


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
