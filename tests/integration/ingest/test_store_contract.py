"""One suite for the IngestStore port, run against the in-memory fake and the PostgreSQL adapter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.ingest.adapters.postgres import PgUnitOfWork
from services.ingest.app.ports import UnitOfWork
from services.ingest.main import MIGRATIONS, SERVICE
from shared.db.migrations import migrate
from shared.db.pool import Database, create_pool
from tests.unit.ingest.builders import T0, bound, released
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


async def test_a_sample_key_is_claimed_once(unit_of_work: UnitOfWork) -> None:
    async with unit_of_work() as store:
        assert await store.claim_sample_key("n", "g", T0, uuid.uuid4())
        assert not await store.claim_sample_key("n", "g", T0, uuid.uuid4())
        assert await store.claim_sample_key("n", "g", T0 + timedelta(seconds=1), uuid.uuid4())


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
        [interval] = await store.intervals_on_gpu("G2", T0 + timedelta(hours=5))
        assert (interval.allocation_id, interval.tenant_id, interval.released_at) == ("alloc-1", "acme", None)
        assert await store.intervals_on_gpu("G2", T0 - timedelta(seconds=1)) == []
        assert await store.intervals_on_gpu("G3", T0) == []
        await store.save_released(released(allocation, T0 + timedelta(hours=1)))
        assert len(await store.intervals_on_gpu("G1", T0 + timedelta(hours=1))) == 1
        assert await store.intervals_on_gpu("G1", T0 + timedelta(hours=1, seconds=1)) == []


async def test_a_release_saved_before_its_binding_is_kept(unit_of_work: UnitOfWork) -> None:
    allocation = bound(T0)
    async with unit_of_work() as store:
        await store.save_released(released(allocation, T0 + timedelta(hours=1)))
        await store.save_bound(allocation)
        [interval] = await store.intervals_on_gpu("GPU-1", T0 + timedelta(minutes=30))
        assert interval.released_at == T0 + timedelta(hours=1)
        assert await store.intervals_on_gpu("GPU-1", T0 + timedelta(hours=2)) == []


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
        await store.claim_sample_key("n", "g", cut - timedelta(seconds=1), uuid.uuid4())
        await store.claim_sample_key("n", "g", cut, uuid.uuid4())
        await store.claim_external_key("/a", "old", cut - timedelta(days=1))
        await store.save_bound(old)
        await store.save_released(released(old, cut - timedelta(days=2)))
        await store.save_bound(still_open)
        assert await store.prune(cut) == 3
        assert await store.claim_sample_key("n", "g", cut - timedelta(seconds=1), uuid.uuid4())
        assert not await store.claim_sample_key("n", "g", cut, uuid.uuid4())
        assert [i.allocation_id for i in await store.intervals_on_gpu("GPU-1", cut)] == ["alloc-1"]
