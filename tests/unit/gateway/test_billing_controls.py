"""Budgets and webhook endpoints through the gateway's use cases on the in-memory store: the events
they emit for metering, and what they refuse."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.gateway.app.administration import CreateKey
from services.gateway.app.billing_controls import MeteringUnavailable, RegisterWebhook, SetBudget
from services.gateway.domain.auth import Principal, Role
from services.gateway.domain.errors import Forbidden, InvalidInput, NotFound
from shared.events.gateway import BudgetSet, WebhookEndpointSet
from tests.unit.gateway.test_use_cases import OPERATOR, World


@pytest.fixture
def world() -> World:
    return World()


async def key(world: World, admin: Principal, role: str) -> Principal:
    assert admin.tenant_id is not None
    created = await world.cases.administration.create_key(admin, CreateKey(admin.tenant_id, Role(role), role))
    return await world.cases.authenticator.authenticate(created.plaintext)


def last(world: World) -> Any:
    return world.store.state.outbox[-1]


async def test_a_project_budget_is_emitted_for_metering_with_the_tenants_currency(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    command = SetBudget(
        None, project_id, Decimal("99.5"), thresholds_percent=(Decimal(90), Decimal(25)), hard_cap=True
    )
    event = await world.cases.billing_controls.set_budget(admin, command)
    assert isinstance(event, BudgetSet) and last(world) == event
    assert (event.budget_id, event.tenant_id, event.project_id, event.currency) == (
        f"bud_{project_id}",
        admin.tenant_id,
        project_id,
        "USD",
    )
    assert event.thresholds_percent == [Decimal(25), Decimal(90)] and event.on_exhaustion == "continue"
    tenant_budget = await world.cases.billing_controls.set_budget(
        OPERATOR, SetBudget(admin.tenant_id, None, Decimal(5))
    )
    assert (tenant_budget.budget_id, tenant_budget.project_id) == (f"bud_{admin.tenant_id}", None)


async def test_budgets_are_refused_to_viewers_other_tenants_and_bad_input(world: World) -> None:
    admin, project_id = await world.tenant_with_project("acme")
    other, _ = await world.tenant_with_project("globex")
    viewer = await key(world, admin, "viewer")
    controls = world.cases.billing_controls
    emitted = len(world.store.state.outbox)
    with pytest.raises(Forbidden):
        await controls.set_budget(viewer, SetBudget(None, project_id, Decimal(1)))
    with pytest.raises(NotFound):
        await controls.set_budget(other, SetBudget(None, project_id, Decimal(1)))
    with pytest.raises(NotFound):
        await controls.set_budget(admin, SetBudget(None, "prj_missing", Decimal(1)))
    with pytest.raises(InvalidInput) as refused:
        await controls.set_budget(
            admin, SetBudget(None, project_id, Decimal(0), thresholds_percent=(Decimal(2000),))
        )
    assert [e.field for e in refused.value.errors] == ["amount", "thresholds_percent.0"]
    with pytest.raises(InvalidInput, match="differs from the tenant's currency"):
        await controls.set_budget(admin, SetBudget(None, project_id, Decimal(1), currency="EUR"))
    assert len(world.store.state.outbox) == emitted


async def test_webhooks_get_a_generated_secret_unless_given_one(world: World) -> None:
    admin, _ = await world.tenant_with_project()
    assert admin.tenant_id is not None
    controls = world.cases.billing_controls
    generated = await controls.register_webhook(
        admin, RegisterWebhook(admin.tenant_id, "https://x.example/h")
    )
    assert isinstance(generated.event, WebhookEndpointSet) and last(world) == generated.event
    assert generated.generated_secret == generated.event.secret and generated.event.secret.startswith(
        "whsec_"
    )
    given = await controls.register_webhook(
        admin,
        RegisterWebhook(admin.tenant_id, "https://x.example/h", "g" * 16, ("metering.v1.usage.rated",) * 2),
    )
    assert given.generated_secret is None and given.event.event_types == ["metering.v1.usage.rated"]
    member = await key(world, admin, "member")
    with pytest.raises(Forbidden):
        await controls.register_webhook(member, RegisterWebhook(admin.tenant_id, "https://x.example/h"))


async def test_reading_back_needs_metering(world: World) -> None:
    admin, project_id = await world.tenant_with_project()
    with pytest.raises(MeteringUnavailable):
        await world.cases.billing_controls.budget(admin, None, project_id)
    with pytest.raises(InvalidInput, match="name the tenant"):
        await world.cases.billing_controls.budgets(OPERATOR, None, None)
