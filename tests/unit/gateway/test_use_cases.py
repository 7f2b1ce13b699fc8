"""The gateway's use cases on the in-memory store: what they write, emit and refuse."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.gateway.app.administration import (
    CreateProject,
    CreateTenant,
    SetPriceBook,
    SetQuotas,
)
from services.gateway.app.jobs import ListJobs, SubmitJob
from services.gateway.app.keys import CreateKey
from services.gateway.app.read_models import apply_job_state_changed
from services.gateway.app.use_cases import GatewayUseCases
from services.gateway.domain.auth import Principal, Role
from services.gateway.domain.errors import (
    Conflict,
    DoesNotFitFleet,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    RejectedEvent,
    Unauthenticated,
)
from services.gateway.domain.model import Node
from shared.clock import ManualClock
from shared.events.gateway import JobCancelRequested, JobSubmitted, PriceBookSet, QuotaSet, TenantCreated
from shared.events.jobs import JobState, JobSubmission
from shared.events.scheduler import JobStateChanged
from tests.unit.gateway.fakes import InMemoryStore

OPERATOR = Principal.operator()
ADMIN_KEY = "operator-key-for-the-unit-tests"


class World:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.clock = ManualClock()
        self.cases = GatewayUseCases.build(self.store, self.clock, ADMIN_KEY)

    async def tenant_with_project(self, name: str = "acme") -> tuple[Principal, str]:
        created = await self.cases.administration.create_tenant(OPERATOR, CreateTenant(name))
        admin = await self.cases.authenticator.authenticate(created.admin_key)
        project = await self.cases.administration.create_project(admin, CreateProject("research"))
        return admin, project.project_id


def spec(**overrides: object) -> JobSubmission:
    return JobSubmission.model_validate({"name": "train", "command": ["python", "train.py"]} | overrides)


@pytest.fixture
def world() -> World:
    return World()


async def test_a_new_tenant_gets_an_admin_key_that_authenticates(world: World) -> None:
    created = await world.cases.administration.create_tenant(OPERATOR, CreateTenant("acme", "EUR"))
    principal = await world.cases.authenticator.authenticate(created.admin_key)
    assert principal == Principal(created.tenant.tenant_id, Role.ADMIN, principal.key_id)
    assert [type(e) for e in world.store.outbox] == [TenantCreated]
    assert await world.cases.authenticator.authenticate(ADMIN_KEY) == OPERATOR
    with pytest.raises(Unauthenticated):
        await world.cases.authenticator.authenticate("afk_unknown")


async def test_a_duplicate_project_name_in_one_tenant_is_a_conflict(world: World) -> None:
    admin, _ = await world.tenant_with_project()
    with pytest.raises(Conflict, match="already has a project named 'research'"):
        await world.cases.administration.create_project(admin, CreateProject("research"))


async def test_keys_cannot_be_made_for_an_unknown_tenant(world: World) -> None:
    with pytest.raises(NotFound, match="tenant tnt_nope not found"):
        await world.cases.keys.create_key(OPERATOR, CreateKey("tnt_nope", Role.MEMBER, "k"))


async def test_quotas_emit_one_event_per_model_and_refuse_negatives(world: World) -> None:
    _, project_id = await world.tenant_with_project()
    world.store.outbox.clear()
    await world.cases.administration.set_quotas(OPERATOR, SetQuotas(project_id, {"H100": 0, "A100": 8}))
    assert [(e.gpu_model, e.gpus) for e in world.store.outbox if isinstance(e, QuotaSet)] == [
        ("A100", 8),
        ("H100", 0),
    ]
    with pytest.raises(InvalidInput, match="quotas.A100: must be 0 or more GPUs, not -1"):
        await world.cases.administration.set_quotas(OPERATOR, SetQuotas(project_id, {"A100": -1}))
    with pytest.raises(InvalidInput, match="'' is not a GPU model name"):
        await world.cases.administration.set_quotas(OPERATOR, SetQuotas(project_id, {"": 1}))


async def test_a_price_book_defaults_to_the_tenants_currency_and_refuses_another(world: World) -> None:
    created = await world.cases.administration.create_tenant(OPERATOR, CreateTenant("acme", "EUR"))
    tenant_id = created.tenant.tenant_id
    event = await world.cases.administration.set_price_book(
        OPERATOR, SetPriceBook(tenant_id, {"A100": Decimal("2.50")}, per_kwh=Decimal("0.12"))
    )
    assert isinstance(world.store.outbox[-1], PriceBookSet)
    assert (event.currency, event.gpu_hour, event.per_kwh) == (
        "EUR",
        {"A100": Decimal("2.50")},
        Decimal("0.12"),
    )
    with pytest.raises(InvalidInput, match="USD differs from the tenant's currency EUR"):
        await world.cases.administration.set_price_book(OPERATOR, SetPriceBook(tenant_id, {}, currency="USD"))


async def test_submit_writes_the_job_and_its_event_together(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    submitted = await world.cases.jobs.submit(admin, SubmitJob(project_id, spec()))
    assert submitted.created and submitted.job.state is JobState.PENDING and submitted.job.version == 0
    event = world.store.outbox[-1]
    assert isinstance(event, JobSubmitted) and event.job_id == submitted.job.job_id
    assert await world.cases.jobs.get(admin, submitted.job.job_id) == submitted.job


async def test_a_refused_submission_leaves_neither_job_nor_event(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    async with world.store.transaction() as uow:
        await uow.nodes.save(Node("n1", "ready", "A100", 8, world.clock.now()))
    before = len(world.store.outbox)
    with pytest.raises(DoesNotFitFleet):
        await world.cases.jobs.submit(admin, SubmitJob(project_id, spec(gpus_per_replica=9)))
    assert len(world.store.outbox) == before and world.store.state.jobs == {}


async def test_idempotency_compares_the_validated_request(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    first = await world.cases.jobs.submit(admin, SubmitJob(project_id, spec(), "k1"))
    # Defaults spelled out are the same request.
    same = await world.cases.jobs.submit(
        admin, SubmitJob(project_id, spec(replicas=1, kind="training"), "k1")
    )
    assert (first.created, same.created, same.job.job_id) == (True, False, first.job.job_id)
    with pytest.raises(IdempotencyKeyReused, match="'k1' was used for job"):
        await world.cases.jobs.submit(admin, SubmitJob(project_id, spec(replicas=2), "k1"))
    # Keys are per tenant: another tenant may use the same key for its own job.
    other, other_project = await world.tenant_with_project("globex")
    assert (await world.cases.jobs.submit(other, SubmitJob(other_project, spec(), "k1"))).created


async def test_pages_stay_exact_when_many_jobs_share_a_timestamp(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    # The manual clock does not move: every job has the same created_at, so job_id breaks the tie.
    ids = {
        (await world.cases.jobs.submit(admin, SubmitJob(project_id, spec()))).job.job_id for _ in range(11)
    }
    seen: list[str] = []
    token = None
    while True:
        page = await world.cases.jobs.list(admin, ListJobs(page_size=4, page_token=token))
        seen += [job.job_id for job in page.items]
        if page.next_page_token is None:
            break
        token = page.next_page_token
    assert len(seen) == 11 and set(seen) == ids


async def test_cancel_emits_once_per_job(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    job = (await world.cases.jobs.submit(admin, SubmitJob(project_id, spec()))).job
    await world.cases.jobs.cancel(admin, job.job_id)
    await world.cases.jobs.cancel(admin, job.job_id)
    assert sum(isinstance(e, JobCancelRequested) for e in world.store.outbox) == 1


async def test_a_state_change_for_another_tenant_is_rejected(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    job = (await world.cases.jobs.submit(admin, SubmitJob(project_id, spec()))).job
    wrong = JobStateChanged(
        occurred_at=world.clock.now(),
        tenant_id="tnt_other",
        project_id=project_id,
        job_id=job.job_id,
        state=JobState.RUNNING,
        version=1,
    )
    async with world.store.transaction() as uow:
        with pytest.raises(RejectedEvent, match="belongs to"):
            await apply_job_state_changed(uow, wrong)
        assert await apply_job_state_changed(uow, wrong.model_copy(update={"tenant_id": admin.tenant_id}))
    assert (await world.cases.jobs.get(admin, job.job_id)).state is JobState.RUNNING
