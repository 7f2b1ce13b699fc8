"""Agent samples through the real service: enriched, deduplicated, dead-lettered when unacceptable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.integration.ingest.conftest import AUTH, Harness
from tests.unit.ingest.builders import bound, released, sample, unique

GPU_KEYS_SQL = "SELECT count(*) FROM allocation_gpus WHERE gpu_uuid = $1"


async def test_a_sample_during_an_allocation_is_recorded_for_its_job(ingest: Harness) -> None:
    now = datetime.now(UTC)
    gpu, job = unique("GPU"), unique("job")
    allocation = bound(
        now - timedelta(minutes=1), allocation_id=unique("alloc"), gpu_uuids=(gpu,), job_id=job
    )
    await ingest.publish(allocation)
    # The allocation and sample consumers are independent: a sample ahead of its binding would be idle.
    assert await ingest.wait_count(GPU_KEYS_SQL, gpu, expected=1) == 1

    usage = sample(now, gpu_uuid=gpu)
    await ingest.publish(usage)

    [record] = await ingest.wait_records(lambda r: r.source_event_id == str(usage.event_id))
    assert (record.tenant_id, record.project_id, record.job_id) == ("acme", "vision", job)
    assert (record.source, record.gpu_uuid, record.window_end) == ("agent", gpu, usage.occurred_at)


async def test_a_sample_on_an_unallocated_gpu_is_recorded_as_idle_fleet_usage(ingest: Harness) -> None:
    usage = sample(datetime.now(UTC), gpu_uuid=unique("GPU"))
    await ingest.publish(usage)

    [record] = await ingest.wait_records(lambda r: r.source_event_id == str(usage.event_id))
    assert (record.tenant_id, record.project_id, record.job_id) == ("_fleet", "_idle", None)


async def test_a_duplicate_sample_is_recorded_once(ingest: Harness) -> None:
    now, gpu = datetime.now(UTC), unique("GPU")
    first = sample(now - timedelta(seconds=10), gpu_uuid=gpu)
    # 1. The same event again under another message id (JetStream lets it through, the consumer drops it).
    # 2. The same natural key under a new event id (an agent retrying after a crash).
    await ingest.publish(first)
    await ingest.publish(first, msg_id=str(uuid.uuid4()))
    await ingest.publish(first.model_copy(update={"event_id": uuid.uuid4()}))
    marker = sample(now, gpu_uuid=gpu)
    await ingest.publish(marker)

    # Records leave in commit order, so once the marker's is out no duplicate can follow.
    records = await ingest.wait_records(lambda r: r.gpu_uuid == gpu, expected=2)
    assert [r.window_end for r in records] == [first.occurred_at, marker.occurred_at]
    assert await ingest.count("SELECT count(*) FROM sample_keys WHERE gpu_uuid = $1", gpu) == 2


async def test_a_future_sample_is_dead_lettered_and_the_next_one_still_goes_through(ingest: Harness) -> None:
    now, gpu = datetime.now(UTC), unique("GPU")
    future = sample(now + timedelta(hours=1), gpu_uuid=gpu)
    valid = sample(now, gpu_uuid=gpu)
    await ingest.publish(future)
    await ingest.publish(valid)

    records = await ingest.wait_records(lambda r: r.gpu_uuid == gpu)
    assert [r.source_event_id for r in records] == [str(valid.event_id)]
    letter = await ingest.service.db.fetchrow("SELECT consumer, event_id, reason FROM dead_letters")
    assert letter is not None
    assert (letter["consumer"], letter["event_id"]) == ("ingest-usage", str(future.event_id))
    assert "3600s in the future" in letter["reason"] and gpu in letter["reason"]

    # Operators see it through the API.
    response = await ingest.http.get("/v1/dead-letters", headers=AUTH)
    assert response.status_code == 200
    [listed] = response.json()["dead_letters"]
    assert listed["consumer"] == "ingest-usage" and "in the future" in listed["reason"]


async def test_a_sample_of_a_shared_gpu_is_split_among_its_holders_and_the_idle_rest(ingest: Harness) -> None:
    now, gpu = datetime.now(UTC), unique("GPU")
    first, second = unique("alloc"), unique("alloc")
    await ingest.publish(
        bound(now - timedelta(minutes=2), allocation_id=first, gpu_uuids=(gpu,), gpu_share="0.5")
    )
    await ingest.publish(
        bound(
            now - timedelta(minutes=1),
            allocation_id=second,
            gpu_uuids=(gpu,),
            gpu_share="0.25",
            job_id="job-2",
        )
    )
    assert await ingest.wait_count(GPU_KEYS_SQL, gpu, expected=2) == 2

    usage = sample(now, gpu_uuid=gpu, energy_j=4000.0)
    await ingest.publish(usage)

    records = await ingest.wait_records(lambda r: r.gpu_uuid == gpu, expected=3)
    assert sorted(((r.job_id, r.tenant_id, r.gpu_share, r.energy_j) for r in records), key=str) == sorted(
        [
            ("job-1", "acme", Decimal("0.5"), Decimal("2000.0")),
            ("job-2", "acme", Decimal("0.25"), Decimal("1000.0")),
            (None, "_fleet", Decimal("0.25"), Decimal("1000.0")),
        ],
        key=str,
    )


async def test_a_sample_past_a_release_that_arrives_late_is_idle_not_the_ended_jobs(ingest: Harness) -> None:
    now = datetime.now(UTC)
    gpu, job = unique("GPU"), unique("job")
    allocation = bound(
        now - timedelta(minutes=2), allocation_id=unique("alloc"), gpu_uuids=(gpu,), job_id=job
    )
    await ingest.publish(allocation)
    assert await ingest.wait_count(GPU_KEYS_SQL, gpu, expected=1) == 1
    # Taken after the workload ended (the agent lists nothing on the GPU), handled before the release.
    late = sample(now, gpu_uuid=gpu, allocation_ids=[])
    await ingest.publish(late)
    held = "SELECT count(*) FROM held_samples WHERE sample_event_id = $1"
    assert await ingest.wait_count(held, late.event_id, expected=1) == 1

    await ingest.publish(released(allocation, now - timedelta(seconds=30)))

    [record] = await ingest.wait_records(lambda r: r.source_event_id == str(late.event_id))
    assert (record.tenant_id, record.project_id, record.job_id) == ("_fleet", "_idle", None)
    assert await ingest.count(held, late.event_id) == 0
