"""Reading back what the operator set (tenants, quotas, the price book in force) and the fleet check on
quotas, on the in-memory store."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.gateway.app.administration import CreateTenant, SetPriceBook, SetQuotas
from services.gateway.domain.errors import InvalidInput, NotFound
from services.gateway.domain.model import Node
from shared.events.gateway import QuotaSet
from tests.unit.gateway.test_use_cases import OPERATOR, World


@pytest.fixture
def world() -> World:
    return World()


async def _fleet(world: World, *models: str) -> None:
    async with world.store.transaction() as uow:
        for index, model in enumerate(models):
            await uow.nodes.save(Node(f"n{index}", "ready", model, 8, world.clock.now()))


async def test_the_operator_lists_every_tenant_and_a_tenant_only_itself(world: World) -> None:
    admin, _ = await world.tenant_with_project("acme")
    world.clock.advance(1)  # oldest first
    await world.tenant_with_project("globex")
    assert [t.name for t in (await world.cases.administration.list_tenants(OPERATOR)).items] == [
        "acme",
        "globex",
    ]
    assert [t.tenant_id for t in (await world.cases.administration.list_tenants(admin)).items] == [
        admin.tenant_id
    ]


async def test_quotas_read_back_as_last_set_per_model(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    await world.cases.administration.set_quotas(OPERATOR, SetQuotas(project_id, {"A100": 8, "H100": 2}))
    await world.cases.administration.set_quotas(OPERATOR, SetQuotas(project_id, {"H100": 0}))
    project, quotas = await world.cases.administration.quotas(admin, project_id)
    assert (project.project_id, quotas) == (project_id, {"A100": 8, "H100": 0})
    other, _ = await world.tenant_with_project("globex")
    with pytest.raises(NotFound, match=f"project {project_id} not found"):
        await world.cases.administration.quotas(other, project_id)


async def test_a_quota_on_a_model_no_node_has_is_refused_naming_the_field(world: World) -> None:
    _, project_id = await world.tenant_with_project()
    await _fleet(world, "A100", "H100")
    world.store.outbox.clear()
    with pytest.raises(InvalidInput) as refused:
        await world.cases.administration.set_quotas(OPERATOR, SetQuotas(project_id, {"A100": 1, "B200": 4}))
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("quotas.B200", "no node in the fleet has 'B200' GPUs (the fleet has A100, H100)")
    ]
    assert world.store.outbox == []
    # A quota of 0 forbids the model: it stands whatever the fleet has.
    await world.cases.administration.set_quotas(OPERATOR, SetQuotas(project_id, {"B200": 0}))
    assert [e.gpu_model for e in world.store.outbox if isinstance(e, QuotaSet)] == ["B200"]


async def test_the_price_book_in_force_is_the_latest_that_has_started(world: World) -> None:
    created = await world.cases.administration.create_tenant(OPERATOR, CreateTenant("acme", "EUR"))
    tenant_id = created.tenant.tenant_id
    with pytest.raises(NotFound, match=f"price book of tenant {tenant_id} not found"):
        await world.cases.administration.price_book(OPERATOR, tenant_id)
    book = SetPriceBook(tenant_id, {"A100": Decimal("2.50")})
    await world.cases.administration.set_price_book(OPERATOR, book)
    later = world.clock.now().replace(year=world.clock.now().year + 1)
    await world.cases.administration.set_price_book(
        OPERATOR, SetPriceBook(tenant_id, {"A100": Decimal("9")}, effective_from=later)
    )
    in_force = await world.cases.administration.price_book(OPERATOR, tenant_id)
    assert (in_force.currency, in_force.gpu_hour) == ("EUR", {"A100": Decimal("2.50")})
