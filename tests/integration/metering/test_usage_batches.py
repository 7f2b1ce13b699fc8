"""Usage records many to a message (UsageBatchRecorded, as ingest sends agent samples): each record counts
once whichever batches carry it, and a record whose tenant cannot be billed yet waits without holding up
the rest of its batch, then is billed once the tenant's price book arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from shared.events.ingest import UsageBatchRecorded, UsageRecorded
from tests.integration.metering.test_usage_pipeline import COUNTED, price_book, settled
from tests.integration.metering.usage_harness import UsageHarness, start_harness, unique
from tests.unit.metering.usage.builders import sample


@pytest.fixture
async def harness(nats_url: str, fresh_database: str) -> AsyncIterator[UsageHarness]:
    # Waiting usage is dead-lettered only after a minute here: this test bills it before.
    async for started in start_harness(nats_url, fresh_database, usage_max_wait_s=60.0):
        yield started


def batch(*records: UsageRecorded) -> UsageBatchRecorded:
    return UsageBatchRecorded(event_id=uuid4(), occurred_at=records[-1].occurred_at, records=list(records))


async def test_a_record_carried_by_two_batches_counts_once(harness: UsageHarness) -> None:
    now = datetime.now(UTC)
    tenant = unique("acme")
    await harness.set_up_tenant(tenant, price_book(tenant, now))
    a, b, c = (sample(now - timedelta(minutes=m), tenant_id=tenant) for m in (3, 2, 1))

    # Ingest re-forms its batches after a crash: the same records come again, grouped otherwise.
    await harness.publish(batch(a, b), batch(b, c), batch(a, b, c))

    await settled(harness)
    assert await harness.value(COUNTED, tenant, "gpu_utilization") == 3
    assert await harness.value("SELECT count(*) FROM usage_events WHERE tenant_id = $1", tenant) == 3
    assert await harness.value("SELECT count(*) FROM dead_letters") == 0


async def test_usage_of_a_tenant_without_a_price_book_waits_and_the_rest_of_its_batch_does_not(
    harness: UsageHarness,
) -> None:
    now = datetime.now(UTC)
    known, late = unique("acme"), unique("late")
    await harness.set_up_tenant(known, price_book(known, now))
    theirs = sample(now - timedelta(minutes=2), tenant_id=late)
    ours = sample(now - timedelta(minutes=1), tenant_id=known)

    await harness.publish(batch(theirs, ours))
    await settled(harness)
    assert await harness.value(COUNTED, known, "gpu_utilization") == 1
    waiting = await harness.value("SELECT reason FROM usage_waiting WHERE event_id = $1", theirs.event_id)
    assert waiting == f"tenant {late} is not known to metering yet"

    await harness.set_up_tenant(late, price_book(late, now))
    assert await harness.wait_for(COUNTED, 1, late, "gpu_utilization") == 1
    assert await harness.wait_for("SELECT count(*) FROM usage_waiting", 0) == 0
    assert await harness.value("SELECT count(*) FROM dead_letters") == 0
