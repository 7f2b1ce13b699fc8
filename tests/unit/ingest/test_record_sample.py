"""The agent-samples use case over the in-memory store: validate, deduplicate, enrich, a batch at once."""

import uuid
from datetime import timedelta

import pytest

from services.ingest.app.bus import RecordSamples, SamplesOutcome, record_bound, record_released
from services.ingest.domain.time_window import TimeLimits
from shared.clock import ManualClock
from shared.events.agent import UsageSampled
from shared.events.ingest import UsageRecorded
from tests.unit.ingest.builders import T0, bound, released, sample
from tests.unit.ingest.fakes import FakeIngestStore, FakeState


@pytest.fixture
def store() -> FakeIngestStore:
    return FakeIngestStore(FakeState(now=T0))


@pytest.fixture
def record_samples() -> RecordSamples:
    return RecordSamples(ManualClock(T0), TimeLimits(max_future_skew_s=300, max_age_s=86_400))


async def record_one(
    record_samples: RecordSamples, store: FakeIngestStore, one: UsageSampled
) -> UsageRecorded:
    [record] = (await record_samples(store, [one])).recorded
    return record


async def test_a_sample_during_an_allocation_is_recorded_for_its_job(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    await record_bound(store, bound(T0 - timedelta(minutes=5), job_id="job-9"))
    record = await record_one(record_samples, store, sample(T0))
    assert store.state.emitted == [record]
    assert (record.tenant_id, record.project_id, record.job_id) == ("acme", "vision", "job-9")


async def test_a_sample_after_the_release_is_idle_usage(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    allocation = bound(T0 - timedelta(minutes=5))
    await record_bound(store, allocation)
    await record_released(store, released(allocation, T0 - timedelta(minutes=1)))
    record = await record_one(record_samples, store, sample(T0))
    assert (record.tenant_id, record.project_id, record.job_id) == ("_fleet", "_idle", None)


async def test_a_release_handled_before_its_binding_still_closes_the_interval(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    allocation = bound(T0 - timedelta(minutes=5))
    await record_released(store, released(allocation, T0 - timedelta(minutes=1)))
    await record_bound(store, allocation)
    outcome = await record_samples(store, [sample(T0 - timedelta(minutes=2)), sample(T0)])
    assert [record.tenant_id for record in outcome.recorded] == ["acme", "_fleet"]


async def test_each_sample_of_a_batch_goes_to_the_allocation_on_its_own_gpu(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    await record_bound(store, bound(T0 - timedelta(minutes=5), gpu_uuids=("GPU-1",), job_id="job-1"))
    await record_bound(store, bound(T0 - timedelta(minutes=1), allocation_id="alloc-2", gpu_uuids=("GPU-2",), job_id="job-2"))  # fmt: skip
    batch = [
        sample(T0 - timedelta(minutes=2), gpu_uuid="GPU-2"),  # before job-2 was bound: idle
        sample(T0, gpu_uuid="GPU-2"),
        sample(T0, gpu_uuid="GPU-1"),
        sample(T0, gpu_uuid="GPU-3"),
    ]
    outcome = await record_samples(store, batch)
    assert [record.job_id for record in outcome.recorded] == [None, "job-2", "job-1", None]


async def test_the_same_natural_key_under_a_new_event_id_is_recorded_once(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    first = sample(T0)
    retried = first.model_copy(update={"event_id": uuid.uuid4(), "energy_j": 1.0})
    assert len((await record_samples(store, [first, retried])).recorded) == 1
    assert await record_samples(store, [retried]) == SamplesOutcome([], 1, [])
    assert len(store.state.emitted) == 1


async def test_samples_out_of_the_time_limits_are_refused_with_the_reason_and_the_rest_recorded(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    future, old, good = (
        sample(T0 + timedelta(seconds=301)),
        sample(T0 - timedelta(seconds=86_401)),
        sample(T0),
    )
    outcome = await record_samples(store, [future, old, good])
    assert [refused for refused, _ in outcome.rejected] == [future, old]
    assert all(
        reason.startswith("sample from node node-1 GPU GPU-1: time ") for _, reason in outcome.rejected
    )
    assert "is 301s in the future" in outcome.rejected[0][1] and "86401s old" in outcome.rejected[1][1]
    assert [record.source_event_id for record in outcome.recorded] == [str(good.event_id)]
    assert list(store.state.sample_keys.values()) == [good.event_id]


async def test_a_sample_after_the_release_handled_before_the_release_is_not_billed_to_the_ended_job(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    # The workload ended at T0 - 1 min; its release reaches ingest late (a scheduler restart).
    allocation = bound(T0 - timedelta(minutes=5), job_id="job-9")
    await record_bound(store, allocation)
    late = sample(T0, allocation_ids=[])  # the agent ran nothing on the GPU then

    outcome = await record_samples(store, [late])
    assert outcome.recorded == [] and store.state.emitted == []  # held back until the release

    await record_released(store, released(allocation, T0 - timedelta(minutes=1)))
    [record] = store.state.emitted
    assert (record.tenant_id, record.job_id, record.source_event_id) == ("_fleet", None, str(late.event_id))
    assert store.state.held == {}


async def test_a_held_sample_inside_the_interval_goes_to_the_job_once_released(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    allocation = bound(T0 - timedelta(minutes=5), job_id="job-9")
    await record_bound(store, allocation)
    await record_samples(store, [sample(T0, allocation_ids=[])])

    await record_released(store, released(allocation, T0 + timedelta(seconds=1)))
    assert [record.job_id for record in store.state.emitted] == ["job-9"]


async def test_a_sample_listing_the_open_allocation_is_billed_to_it_at_once(
    store: FakeIngestStore, record_samples: RecordSamples
) -> None:
    await record_bound(store, bound(T0 - timedelta(minutes=5), allocation_id="alloc-1", job_id="job-9"))
    record = await record_one(record_samples, store, sample(T0, allocation_ids=["alloc-1"]))
    assert record.job_id == "job-9"
