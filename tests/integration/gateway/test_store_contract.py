"""One suite for the store port, run against the in-memory fake and the PostgreSQL adapter alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.gateway.adapters.postgres.store import PgGatewayStore
from services.gateway.app.ports import GatewayStore, JobQuery
from services.gateway.domain.auth import Role
from services.gateway.domain.model import ApiKey, Invoice, Job, Node, Project, Tenant
from services.gateway.domain.requests import JobPageCursor
from services.gateway.main import MIGRATIONS, SCHEMA
from shared.db.migrations import migrate
from shared.db.pool import Database, create_pool
from shared.events.gateway import PriceBookSet
from shared.events.jobs import JobSpec, JobState
from shared.events.metering import InvoiceLine
from tests.unit.gateway.fakes import InMemoryStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = JobSpec(name="j", command=["run"], env={"A": "1"}, gpu_models=["A100"])


@pytest.fixture(params=["in-memory", "postgres"])
async def store(request: pytest.FixtureRequest, fresh_database: str) -> AsyncIterator[GatewayStore]:
    if request.param == "in-memory":
        yield InMemoryStore()
        return
    await migrate(fresh_database, SCHEMA, MIGRATIONS)
    database = Database(await create_pool(fresh_database, SCHEMA))
    yield PgGatewayStore(lambda: database)
    await database.close()


async def seed(store: GatewayStore) -> None:
    async with store.transaction() as uow:
        await uow.tenants.add(Tenant("tnt_a", "acme", "USD", T0))
        await uow.projects.add(Project("prj_a", "tnt_a", "research", T0))


def job(job_id: str, at: datetime = T0, key: str | None = None) -> Job:
    return Job(
        job_id, "tnt_a", "prj_a", SPEC, JobState.PENDING, "", 0, at, at, None, key, "fp" if key else None
    )


async def test_tenants_keys_and_projects_read_back(store: GatewayStore) -> None:
    await seed(store)
    key = ApiKey("key_1", "tnt_a", Role.MEMBER, "ci", "hash1", T0)
    async with store.transaction() as uow:
        await uow.api_keys.add(key)
        assert not await uow.projects.add(Project("prj_b", "tnt_a", "research", T0))
    async with store.transaction() as uow:
        assert await uow.tenants.get("tnt_a") == Tenant("tnt_a", "acme", "USD", T0)
        assert await uow.api_keys.find_by_hash("hash1") == key
        assert await uow.api_keys.find_by_hash("other") is None
        assert [p.project_id for p in await uow.projects.list("tnt_a")] == ["prj_a"]
        assert await uow.projects.list("tnt_b") == []


async def test_jobs_round_trip_and_an_idempotency_key_is_taken_once_per_tenant(store: GatewayStore) -> None:
    await seed(store)
    async with store.transaction() as uow:
        assert await uow.jobs.add(job("job_1", key="k"))
        assert not await uow.jobs.add(job("job_2", key="k"))
    async with store.transaction() as uow:
        assert await uow.jobs.get("job_1") == job("job_1", key="k")
        assert await uow.jobs.get("job_2") is None
        assert (await uow.jobs.find_by_idempotency_key("tnt_a", "k")) == job("job_1", key="k")
        saved = replace(
            job("job_1", key="k"),
            state=JobState.RUNNING,
            reason="go",
            version=4,
            updated_at=T0 + timedelta(1),
        )
        await uow.jobs.save(saved)
    async with store.transaction() as uow:
        assert await uow.jobs.get("job_1") == saved


async def test_job_listing_is_a_keyset_newest_first_with_ties_broken_by_id(store: GatewayStore) -> None:
    await seed(store)
    async with store.transaction() as uow:
        for job_id, offset in (("job_a", 0), ("job_b", 0), ("job_c", 5), ("job_d", 5), ("job_e", 9)):
            await uow.jobs.add(job(job_id, T0 + timedelta(seconds=offset)))
        await uow.jobs.save(replace(job("job_c", T0 + timedelta(seconds=5)), state=JobState.RUNNING))
    async with store.transaction() as uow:
        everything = await uow.jobs.list(JobQuery("tnt_a", None, None, None, 10))
        assert [j.job_id for j in everything] == ["job_e", "job_d", "job_c", "job_b", "job_a"]
        after = JobPageCursor(T0 + timedelta(seconds=5), "job_d", "f")
        rest = await uow.jobs.list(JobQuery("tnt_a", "prj_a", None, after, 2))
        assert [j.job_id for j in rest] == ["job_c", "job_b"]
        running = await uow.jobs.list(JobQuery(None, None, JobState.RUNNING, None, 10))
        assert [j.job_id for j in running] == ["job_c"]
        assert await uow.jobs.list(JobQuery("tnt_other", None, None, None, 10)) == []


async def test_nodes_and_invoices_are_upserted_by_id(store: GatewayStore) -> None:
    line = InvoiceLine(
        project_id="prj_a",
        meter="gpu_hours",
        gpu_model="A100",
        quantity=Decimal("1.5"),
        unit="GPU-hour",
        unit_price=Decimal("2.50"),
        amount=Decimal("3.75"),
    )
    draft = Invoice("inv_1", "tnt_a", "2026-01", "draft", "USD", (line,), Decimal("3.75"), False, T0)
    final = replace(
        draft, status="finalized", final=True, total=Decimal("3.750"), snapshot_at=T0 + timedelta(1)
    )
    async with store.transaction() as uow:
        await uow.nodes.save(Node("n1", "ready", "A100", 8, T0))
        await uow.nodes.save(Node("n1", "lost", "A100", 8, T0 + timedelta(1)))
        await uow.invoices.save(draft)
        await uow.invoices.save(final)
    async with store.transaction() as uow:
        assert await uow.nodes.list() == [Node("n1", "lost", "A100", 8, T0 + timedelta(1))]
        assert await uow.invoices.get("inv_1") == final
        assert await uow.invoices.list("tnt_a", "2026-01") == [final]
        assert await uow.invoices.list("tnt_a", "2026-02") == []


async def test_a_failed_transaction_leaves_nothing(store: GatewayStore) -> None:
    await seed(store)
    with pytest.raises(RuntimeError):
        async with store.transaction() as uow:
            await uow.jobs.add(job("job_1"))
            raise RuntimeError("boom")
    async with store.transaction() as uow:
        assert await uow.jobs.get("job_1") is None


async def test_tenants_quotas_and_price_books_read_back(store: GatewayStore) -> None:
    await seed(store)
    later = Tenant("tnt_b", "globex", "EUR", T0 + timedelta(seconds=1))
    first = PriceBookSet(occurred_at=T0, tenant_id="tnt_a", currency="USD", gpu_hour={"A100": Decimal("2.5")})
    future = first.model_copy(
        update={"gpu_hour": {"A100": Decimal(9)}, "effective_from": T0 + timedelta(days=30)}
    )
    async with store.transaction() as uow:
        await uow.tenants.add(later)
        await uow.quotas.set("prj_a", {"A100": 8, "H100": 2}, T0)
        await uow.quotas.set("prj_a", {"H100": 0}, T0)
        await uow.price_books.add(first)
        await uow.price_books.add(future)
    async with store.reading() as uow:
        assert [t.tenant_id for t in await uow.tenants.list(None)] == ["tnt_a", "tnt_b"]
        assert await uow.tenants.list("tnt_b") == [later]
        assert await uow.quotas.of_project("prj_a") == {"A100": 8, "H100": 0}
        assert await uow.quotas.of_project("prj_none") == {}
        assert await uow.price_books.in_force("tnt_a", T0 - timedelta(seconds=1)) is None
        assert await uow.price_books.in_force("tnt_a", T0 + timedelta(days=1)) == first
        assert await uow.price_books.in_force("tnt_a", T0 + timedelta(days=31)) == future


async def test_lists_seek_after_a_key_and_stop_at_the_limit(store: GatewayStore) -> None:
    at = [T0 + timedelta(seconds=i) for i in range(3)]
    async with store.transaction() as uow:
        for i, when in enumerate(at):
            await uow.tenants.add(Tenant(f"tnt_{i}", f"t{i}", "USD", when))
            await uow.projects.add(Project(f"prj_{i}", "tnt_0", f"p{i}", when))
            await uow.nodes.save(Node(f"n{i}", "ready", "A100", 8, T0))
            for period in ("2026-01", "2026-02"):
                await uow.invoices.save(
                    Invoice(
                        f"inv_{i}_{period}", f"tnt_{i}", period, "draft", "USD", (), Decimal(0), False, T0
                    )
                )
    async with store.reading() as uow:
        assert [t.tenant_id for t in await uow.tenants.list(None, (at[0], "tnt_0"), 1)] == ["tnt_1"]
        assert [p.project_id for p in await uow.projects.list("tnt_0", (at[1], "prj_1"))] == ["prj_2"]
        assert [n.node_id for n in await uow.nodes.list("n0", 1)] == ["n1"]
        after = ("2026-02", "tnt_1", "inv_1_2026-02")
        assert [i.invoice_id for i in await uow.invoices.list(None, None, after, 3)] == [
            "inv_2_2026-02",
            "inv_0_2026-01",
            "inv_1_2026-01",
        ]


async def test_keys_list_by_tenant_save_their_lifecycle_and_touch_their_last_use(store: GatewayStore) -> None:
    await seed(store)
    later = T0 + timedelta(minutes=5)
    first = ApiKey("key_1", "tnt_a", Role.ADMIN, "first", "hash1", T0)
    second = ApiKey("key_2", "tnt_a", Role.VIEWER, "ci", "hash2", T0, expires_at=later)
    async with store.transaction() as uow:
        await uow.tenants.add(Tenant("tnt_b", "globex", "USD", T0))
        await uow.api_keys.add(second)
        await uow.api_keys.add(first)
        await uow.api_keys.add(ApiKey("key_3", "tnt_b", Role.MEMBER, "other", "hash3", later))
    async with store.transaction() as uow:
        assert [k.key_id for k in await uow.api_keys.list("tnt_a")] == ["key_1", "key_2"]
        assert [k.key_id for k in await uow.api_keys.list(None, (T0, "key_1"), 1)] == ["key_2"]
        assert await uow.api_keys.get("key_2") == second
        assert await uow.api_keys.get("key_9") is None
        rotated = replace(second, key_hash="hash2b", previous_key_hash="hash2", previous_key_expires_at=later)
        await uow.api_keys.save(rotated)
    async with store.transaction() as uow:
        assert await uow.api_keys.find_by_hash("hash2b") == rotated
        assert await uow.api_keys.find_by_hash("hash2") == rotated  # the previous secret, in its grace
        revoked = replace(rotated, revoked_at=later, previous_key_hash=None, previous_key_expires_at=None)
        await uow.api_keys.save(revoked)
        await uow.api_keys.touch("key_2", later, later - timedelta(minutes=1))
        await uow.api_keys.touch("key_2", later + timedelta(seconds=30), later + timedelta(seconds=-30))
    async with store.reading() as uow:
        assert await uow.api_keys.find_by_hash("hash2") is None
        assert await uow.api_keys.get("key_2") == replace(revoked, last_used_at=later)
