"""One suite for the IngestStore port, run against the in-memory fake and the PostgreSQL adapter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.adapters.postgres import PgUnitOfWork
from services.ingest.app.ports import IngestStore, UnitOfWork
from services.ingest.domain.allocations import AllocationInterval
from services.ingest.main import MIGRATIONS, SERVICE
from shared.db.migrations import migrate
from shared.db.pool import Database, create_pool
from shared.events.agent import UsageSampled
from tests.unit.ingest.builders import T0, bound, released, sample
from tests.unit.ingest.fakes import FakeState, FakeUnitOfWork


@pytest.fixture(params=["fake", "postgres"])
async def unit_of_work(request: pytest.FixtureRequest, fresh_database: str) -> AsyncIterator[UnitOfWork]:
    if request.param == "fake":
        yield FakeUnitOfWork(FakeState(now=T0))
        return
    # The fake ignores the database; asking for it always keeps the fixture simple (async fixtures
    # cannot be requested conditionally).
    await migrate(fresh_database, SERVICE, MIGRATIONS)
    db = Database(await create_pool(fresh_database, SERVICE))
    try:
        yield PgUnitOfWork(db)
    finally:
        await db.close()


async def claim(store: IngestStore, node_id: str, gpu_uuid: str, at: datetime) -> bool:
    """Claim one sample's natural key (under a new event id); True when it was not claimed before."""
    return bool(await store.claim_sample_keys([sample(at, node_id=node_id, gpu_uuid=gpu_uuid)]))


async def intervals_at(store: IngestStore, gpu_uuid: str, at: datetime) -> list[AllocationInterval]:
    return await store.intervals_on_gpus([gpu_uuid], at, at)


async def test_a_sample_key_is_claimed_once(unit_of_work: UnitOfWork) -> None:
    async with unit_of_work() as store:
        assert await claim(store, "n", "g", T0)
        assert not await claim(store, "n", "g", T0)
        assert await claim(store, "n", "g", T0 + timedelta(seconds=1))


async def test_a_batch_claims_each_natural_key_once(unit_of_work: UnitOfWork) -> None:
    first, later = sample(T0), sample(T0 + timedelta(seconds=10))
    retried = first.model_copy(update={"event_id": uuid.uuid4()})
    async with unit_of_work() as store:
        claimed = await store.claim_sample_keys([first, retried, later])
        assert claimed in ({first.event_id, later.event_id}, {retried.event_id, later.event_id})
        other_gpu = sample(T0, gpu_uuid="GPU-2")
        assert await store.claim_sample_keys([later, other_gpu]) == {other_gpu.event_id}


async def test_intervals_of_several_gpus_over_a_time_range(unit_of_work: UnitOfWork) -> None:
    early, late = (
        bound(T0, allocation_id="early", gpu_uuids=("G1",)),
        bound(T0 + timedelta(hours=2), allocation_id="late", gpu_uuids=("G2",)),
    )
    async with unit_of_work() as store:
        for allocation in (early, late):
            await store.save_bound(allocation)
        await store.save_released(released(early, T0 + timedelta(hours=1)))
        found = await store.intervals_on_gpus(
            ["G1", "G2", "G3"], T0 + timedelta(minutes=30), T0 + timedelta(hours=3)
        )
        assert sorted((i.gpu_uuid, i.allocation_id) for i in found) == [("G1", "early"), ("G2", "late")]
        assert (
            await store.intervals_on_gpus(
                ["G1", "G2"], T0 + timedelta(hours=1, seconds=1), T0 + timedelta(hours=1, seconds=2)
            )
            == []
        )


async def test_an_external_key_is_claimed_once_per_source(unit_of_work: UnitOfWork) -> None:
    async with unit_of_work() as store:
        assert await store.claim_external_key("/a", "1", T0)
        assert not await store.claim_external_key("/a", "1", T0)
        assert await store.claim_external_key("/b", "1", T0)


async def test_a_rolled_back_claim_is_forgotten(unit_of_work: UnitOfWork) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work() as store:
            await store.claim_external_key("/a", "1", T0)
            raise RuntimeError("the emit failed")
    async with unit_of_work() as store:
        assert await store.claim_external_key("/a", "1", T0)


async def test_intervals_cover_from_binding_to_release(unit_of_work: UnitOfWork) -> None:
    allocation = bound(T0, gpu_uuids=("G1", "G2"))
    async with unit_of_work() as store:
        await store.save_bound(allocation)
        [interval] = await intervals_at(store, "G2", T0 + timedelta(hours=5))
        assert (interval.allocation_id, interval.tenant_id, interval.released_at) == ("alloc-1", "acme", None)
        assert await intervals_at(store, "G2", T0 - timedelta(seconds=1)) == []
        assert await intervals_at(store, "G3", T0) == []
        await store.save_released(released(allocation, T0 + timedelta(hours=1)))
        assert len(await intervals_at(store, "G1", T0 + timedelta(hours=1))) == 1
        assert await intervals_at(store, "G1", T0 + timedelta(hours=1, seconds=1)) == []


async def test_a_release_saved_before_its_binding_is_kept(unit_of_work: UnitOfWork) -> None:
    allocation = bound(T0)
    async with unit_of_work() as store:
        await store.save_released(released(allocation, T0 + timedelta(hours=1)))
        await store.save_bound(allocation)
        [interval] = await intervals_at(store, "GPU-1", T0 + timedelta(minutes=30))
        assert interval.released_at == T0 + timedelta(hours=1)
        assert await intervals_at(store, "GPU-1", T0 + timedelta(hours=2)) == []


async def test_projects_belong_to_their_tenant(unit_of_work: UnitOfWork) -> None:
    async with unit_of_work() as store:
        await store.save_tenant("acme", "Acme")
        await store.save_tenant("acme", "Acme again")  # a redelivered announcement
        await store.save_project("acme", "vision", "Vision")
        assert await store.tenant_exists("acme") and not await store.tenant_exists("globex")
        assert await store.project_exists("acme", "vision")
        assert not await store.project_exists("globex", "vision")


async def test_pruning_removes_only_what_is_older_than_the_cut(unit_of_work: UnitOfWork) -> None:
    cut = T0
    old, still_open = bound(cut - timedelta(days=3), allocation_id="old"), bound(cut - timedelta(days=3))
    async with unit_of_work() as store:
        await claim(store, "n", "g", cut - timedelta(seconds=1))
        await claim(store, "n", "g", cut)
        await store.claim_external_key("/a", "old", cut - timedelta(days=1))
        await store.save_bound(old)
        await store.save_released(released(old, cut - timedelta(days=2)))
        await store.save_bound(still_open)
        assert await store.prune(cut) == 3
        assert await claim(store, "n", "g", cut - timedelta(seconds=1))
        assert not await claim(store, "n", "g", cut)
        assert [i.allocation_id for i in await intervals_at(store, "GPU-1", cut)] == ["alloc-1"]


async def test_held_samples_are_held_in_one_batch_until_the_last_release_they_wait_for(
    unit_of_work: UnitOfWork,
) -> None:
    first, second = sample(T0), sample(T0, gpu_uuid="GPU-2")
    async with unit_of_work() as store:
        # The same hold twice in a batch (a redelivered sample) is kept once.
        await store.hold_samples([(first, ["a1", "a2"]), (second, ["a1"]), (first, ["a1"])])
        assert await store.take_held_samples("a1") == [second]
        assert await store.take_held_samples("a2") == [first]
        assert await store.take_held_samples("a1") == []


async def test_samples_held_before_the_cut_are_taken_whole_and_oldest_first(unit_of_work: UnitOfWork) -> None:
    # The fake holds at T0, PostgreSQL at its now(): both lie between these two cuts.
    before_any, after_all = T0 - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    first, second = sample(T0), sample(T0, gpu_uuid="GPU-2")
    async with unit_of_work() as store:
        await store.hold_samples([(first, ["a2", "a1"]), (second, ["a1"])])
        assert await store.take_expired_holds(before_any, 10) == []
        [one] = await store.take_expired_holds(after_all, 1)
        [other] = await store.take_expired_holds(after_all, 10)
        assert await store.take_expired_holds(after_all, 10) == []
        assert await store.take_held_samples("a1") == []
    holds = {hold.sample_event_id: hold for hold in (one, other)}
    assert list(holds) == sorted([first.event_id, second.event_id])  # held at once: by event id
    assert list(holds[first.event_id].waiting_for) == ["a1", "a2"]
    assert list(holds[second.event_id].waiting_for) == ["a1"]
    assert UsageSampled.model_validate_json(holds[first.event_id].body) == first
    assert before_any < one.held_at == other.held_at < after_all
