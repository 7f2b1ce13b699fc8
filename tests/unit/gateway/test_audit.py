"""The audit log on the in-memory store: every mutating use case records its action, in its transaction;
reading is for admins, scoped to their tenant."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.gateway.app.administration import CreateProject, CreateTenant, SetPriceBook, SetQuotas
from services.gateway.app.billing_and_fleet import FinalizeInvoice, GrantCredit, VoidInvoice
from services.gateway.app.billing_controls import RegisterWebhook, SetBudget
from services.gateway.app.jobs import SubmitJob
from services.gateway.app.keys import CreateKey
from services.gateway.app.pages import PageRequest
from services.gateway.app.use_cases import GatewayUseCases
from services.gateway.domain.audit import ACTIONS, AuditEntry, clean_request_id, parse_since
from services.gateway.domain.auth import Principal, Role
from services.gateway.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.gateway.domain.model import Invoice
from shared.clock import ManualClock
from shared.events.jobs import JobSubmission
from tests.unit.gateway.fakes import InMemoryStore

OPERATOR = Principal.operator()


class World:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.clock = ManualClock()
        self.cases = GatewayUseCases.build(self.store, self.clock, "operator-key-for-the-unit-tests")

    async def tenant(self, name: str = "acme") -> tuple[Principal, str, str]:
        """(its admin, tenant id, project id)"""
        created = await self.cases.administration.create_tenant(OPERATOR, CreateTenant(name))
        admin = await self.cases.authenticator.authenticate(created.admin_key)
        project = await self.cases.administration.create_project(admin, CreateProject("research"))
        return admin, created.tenant.tenant_id, project.project_id

    async def key(self, tenant_id: str, role: Role) -> Principal:
        created = await self.cases.keys.create_key(OPERATOR, CreateKey(tenant_id, role, f"{role} key"))
        return await self.cases.authenticator.authenticate(created.plaintext)

    @property
    def actions(self) -> list[str]:
        return [e.action for e in self.store.state.audit]


def spec() -> JobSubmission:
    return JobSubmission.model_validate({"name": "train", "command": ["python", "train.py"]})


@pytest.fixture
def world() -> World:
    return World()


async def test_every_mutating_use_case_records_its_action(world: World) -> None:
    admin, tenant_id, project_id = await world.tenant()
    cases = world.cases
    member = await world.key(tenant_id, Role.MEMBER)
    job = (await cases.jobs.submit(member, SubmitJob(project_id, spec()))).job
    await cases.jobs.cancel(member, job.job_id)
    assert member.key_id is not None
    await cases.keys.rotate_key(admin, member.key_id)
    await cases.keys.revoke_key(admin, member.key_id)
    await cases.administration.set_quotas(OPERATOR, SetQuotas(project_id, {"H100": 2}))
    await cases.administration.set_price_book(OPERATOR, SetPriceBook(tenant_id, {"H100": Decimal("2.5")}))
    await cases.billing.request_finalize(OPERATOR, FinalizeInvoice(tenant_id, "2026-01"))
    await cases.billing.grant_credit(OPERATOR, GrantCredit(tenant_id, Decimal(10)))
    world.store.state.invoices["inv"] = Invoice(
        "inv", tenant_id, "2026-01", "finalized", "USD", (), Decimal(1), True, world.clock.now()
    )
    await cases.billing.request_void(OPERATOR, VoidInvoice("inv", "wrong prices"))
    await cases.billing_controls.set_budget(admin, SetBudget(None, project_id, Decimal(100)))
    hook = await cases.billing_controls.register_webhook(
        admin, RegisterWebhook(tenant_id, "https://hooks.example.com/a")
    )
    await cases.billing_controls.remove_webhook(admin, tenant_id, hook.event.endpoint_id)

    assert sorted(set(world.actions)) == sorted(ACTIONS)
    assert all(e.tenant_id == tenant_id and e.at == world.clock.now() for e in world.store.state.audit)


async def test_an_entry_names_the_actor_key_role_and_request(world: World) -> None:
    admin, tenant_id, project_id = await world.tenant()
    member = await world.key(tenant_id, Role.MEMBER)
    traced = Principal(member.tenant_id, member.role, member.key_id, request_id="req-1")
    job = (await world.cases.jobs.submit(traced, SubmitJob(project_id, spec()))).job
    first, *_, last = world.store.state.audit
    assert (first.actor, first.role, first.key_id, first.action) == (
        "operator",
        "operator",
        None,
        "tenant.create",
    )
    assert last == AuditEntry(
        world.clock.now(),
        tenant_id,
        tenant_id,
        member.key_id,
        "member",
        "job.submit",
        job.job_id,
        "req-1",
        entry_id=last.entry_id,
    )


async def test_refusals_and_replays_record_nothing(world: World) -> None:
    admin, tenant_id, project_id = await world.tenant()
    before = list(world.actions)
    with pytest.raises(Conflict):  # rolled back: the project already exists
        await world.cases.administration.create_project(admin, CreateProject("research"))
    with pytest.raises(Forbidden):
        await world.cases.administration.create_tenant(admin, CreateTenant("other"))
    submit = SubmitJob(project_id, spec(), idempotency_key="k1")
    job = (await world.cases.jobs.submit(admin, submit)).job
    assert not (await world.cases.jobs.submit(admin, submit)).created
    await world.cases.jobs.cancel(admin, job.job_id)
    await world.cases.jobs.cancel(admin, job.job_id)  # already requested: no change
    assert world.actions == [*before, "job.submit", "job.cancel"]


async def test_a_failing_transaction_keeps_no_entry(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    await world.tenant()
    before = list(world.store.state.audit)

    async def fail(*args: object) -> None:
        raise RuntimeError("the outbox is down")

    monkeypatch.setattr("tests.unit.gateway.fakes.InMemoryUnitOfWork.emit", fail)
    with pytest.raises(RuntimeError):
        await world.cases.administration.create_tenant(OPERATOR, CreateTenant("globex"))
    assert world.store.state.audit == before


async def test_reading_is_for_admins_and_scoped_to_their_tenant(world: World) -> None:
    acme_admin, acme, _ = await world.tenant("acme")
    _, globex, _ = await world.tenant("globex")
    audit = world.cases.audit
    mine = await audit.list_entries(acme_admin)
    assert [e.action for e in mine.items] == ["project.create", "tenant.create"]
    assert {e.tenant_id for e in mine.items} == {acme}
    with pytest.raises(NotFound):
        await audit.list_entries(acme_admin, tenant_id=globex)
    for role in (Role.MEMBER, Role.VIEWER):
        with pytest.raises(Forbidden):
            await audit.list_entries(await world.key(acme, role))
    everything = await audit.list_entries(OPERATOR, page=PageRequest(page_size=3))
    assert len(everything.items) == 3 and everything.next_page_token is not None
    rest = await audit.list_entries(OPERATOR, page=PageRequest(3, everything.next_page_token))
    ids = [e.entry_id for e in everything.items + rest.items]
    assert ids == sorted(ids, reverse=True)
    assert [e.tenant_id for e in (await audit.list_entries(OPERATOR, tenant_id=globex)).items] == [globex] * 2
    created = await audit.list_entries(OPERATOR, action="tenant.create")
    assert [e.tenant_id for e in created.items] == [globex, acme]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page": PageRequest(page_size=0)}, "page_size"),
        ({"page": PageRequest(page_token="garbage!")}, "page_token"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"action": "job.explode"}, "action"),
    ],
)
async def test_bad_query_input_names_the_field(world: World, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await world.cases.audit.list_entries(OPERATOR, **kwargs)  # type: ignore[arg-type]
    assert [e.field for e in refused.value.errors] == [field]


def test_since_and_request_ids_are_parsed_strictly() -> None:
    assert parse_since(None) is None
    assert parse_since("2026-01-01T01:00:00+01:00") == parse_since("2026-01-01T00:00:00Z")
    assert clean_request_id("abc-123") == "abc-123"
    assert clean_request_id("x" * 200) is None
    assert clean_request_id("a b\n") is None
    assert clean_request_id(None) is None
