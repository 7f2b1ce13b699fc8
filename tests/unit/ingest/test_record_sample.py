"""The agent-sample use case over the in-memory store: validate, deduplicate, enrich."""

import uuid
from datetime import timedelta

import pytest

from services.ingest.app.bus import RecordSample, record_bound, record_released
from services.ingest.domain.errors import SampleRejected
from services.ingest.domain.time_window import TimeLimits
from shared.clock import ManualClock
from tests.unit.ingest.builders import T0, bound, released, sample
from tests.unit.ingest.fakes import FakeIngestStore, FakeState


@pytest.fixture
def store() -> FakeIngestStore:
    return FakeIngestStore(FakeState(now=T0))


@pytest.fixture
def record_sample() -> RecordSample:
    return RecordSample(ManualClock(T0), TimeLimits(max_future_skew_s=300, max_age_s=86_400))


async def test_a_sample_during_an_allocation_is_recorded_for_its_job(
    store: FakeIngestStore, record_sample: RecordSample
) -> None:
    await record_bound(store, bound(T0 - timedelta(minutes=5), job_id="job-9"))
    record = await record_sample(store, sample(T0))
    assert record is not None and store.state.emitted == [record]
    assert (record.tenant_id, record.project_id, record.job_id) == ("acme", "vision", "job-9")


async def test_a_sample_after_the_release_is_idle_usage(
    store: FakeIngestStore, record_sample: RecordSample
) -> None:
    allocation = bound(T0 - timedelta(minutes=5))
    await record_bound(store, allocation)
    await record_released(store, released(allocation, T0 - timedelta(minutes=1)))
    record = await record_sample(store, sample(T0))
    assert record is not None and (record.tenant_id, record.project_id, record.job_id) == (
        "_fleet",
        "_idle",
        None,
    )


async def test_a_release_handled_before_its_binding_still_closes_the_interval(
    store: FakeIngestStore, record_sample: RecordSample
) -> None:
    allocation = bound(T0 - timedelta(minutes=5))
    await record_released(store, released(allocation, T0 - timedelta(minutes=1)))
    await record_bound(store, allocation)
    assert (await record_sample(store, sample(T0 - timedelta(minutes=2)))).tenant_id == "acme"  # type: ignore[union-attr]
    assert (await record_sample(store, sample(T0))).tenant_id == "_fleet"  # type: ignore[union-attr]


async def test_a_sample_on_another_gpu_of_the_node_is_not_attributed(
    store: FakeIngestStore, record_sample: RecordSample
) -> None:
    await record_bound(store, bound(T0 - timedelta(minutes=5), gpu_uuids=("GPU-1",)))
    record = await record_sample(store, sample(T0, gpu_uuid="GPU-2"))
    assert record is not None and record.tenant_id == "_fleet"


async def test_the_same_natural_key_under_a_new_event_id_is_recorded_once(
    store: FakeIngestStore, record_sample: RecordSample
) -> None:
    first = sample(T0)
    retried = first.model_copy(update={"event_id": uuid.uuid4(), "energy_j": 1.0})
    assert await record_sample(store, first) is not None
    assert await record_sample(store, retried) is None
    assert len(store.state.emitted) == 1


async def test_a_sample_too_far_in_the_future_is_rejected_and_nothing_is_kept(
    store: FakeIngestStore, record_sample: RecordSample
) -> None:
    with pytest.raises(SampleRejected, match=r"node node-1 GPU GPU-1: time .* is 301s in the future"):
        await record_sample(store, sample(T0 + timedelta(seconds=301)))
    assert store.state.emitted == [] and store.state.sample_keys == {}


async def test_a_sample_older_than_the_age_limit_is_rejected(
    store: FakeIngestStore, record_sample: RecordSample
) -> None:
    with pytest.raises(SampleRejected, match="86401s old"):
        await record_sample(store, sample(T0 - timedelta(seconds=86_401)))
