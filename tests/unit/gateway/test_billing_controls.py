"""Budgets and webhook endpoints through the gateway's use cases on the in-memory store: the events
they emit for metering, and what they refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from services.gateway.app.billing_controls import (
    BillingControls,
    MeteringUnavailable,
    RegisterWebhook,
    SetBudget,
)
from services.gateway.app.keys import CreateKey
from services.gateway.app.pages import PageRequest
from services.gateway.domain.auth import Principal, Role
from services.gateway.domain.errors import Forbidden, InvalidInput, NotFound
from services.gateway.domain.pages import MAX_PAGE_SIZE
from shared.contracts.metering_api import MAX_DELIVERIES, Delivery, TenantDeliveries
from shared.events.gateway import BudgetSet, WebhookEndpointSet
from tests.unit.gateway.test_use_cases import OPERATOR, World


@pytest.fixture
def world() -> World:
    return World()


async def key(world: World, admin: Principal, role: str) -> Principal:
    assert admin.tenant_id is not None
    created = await world.cases.keys.create_key(admin, CreateKey(admin.tenant_id, Role(role), role))
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


class DeliveryLogs:
    """Metering's delivery logs as the gateway reads them: pages newest first, a cursor after each page."""

    def __init__(self) -> None:
        self.logs: dict[str, list[Delivery]] = {}
        self.asked: list[str | None] = []  # the cursor of each read

    def add(self, tenant_id: str, endpoint_id: str, count: int) -> None:
        log = self.logs.setdefault(tenant_id, [])
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for _ in range(count):
            number = sum(len(each) for each in self.logs.values()) + 1
            log.insert(0, _delivery(number, endpoint_id, start + timedelta(minutes=number)))

    async def deliveries(
        self, tenant_id: str, endpoint_id: str | None, limit: int, after: str | None
    ) -> TenantDeliveries:
        self.asked.append(after)
        log = [d for d in self.logs.get(tenant_id, []) if endpoint_id in (None, d.endpoint_id)]
        ids = [str(d.delivery_id) for d in log]
        if after is not None and after not in ids:
            raise InvalidInput.one("page_token", "is not a page token issued by this API", "query")
        start = ids.index(after) + 1 if after is not None else 0
        page = log[start : start + limit]
        more = start + limit < len(log)
        return TenantDeliveries(
            tenant_id=tenant_id, items=page, next_cursor=str(page[-1].delivery_id) if more else None
        )

    async def budgets(self, tenant_id: str, period: str | None) -> Any:
        raise NotImplementedError

    async def webhooks(self, tenant_id: str) -> Any:
        raise NotImplementedError


def _delivery(delivery_id: int, endpoint_id: str, at: datetime) -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        endpoint_id=endpoint_id,
        event_id=uuid4(),
        event_type="metering.v1.usage.rated",
        status="delivered",
        attempts=1,
        next_attempt_at=None,
        created_at=at,
        finished_at=at,
        attempt_log=[],
    )


async def every_delivery_page(
    controls: BillingControls, admin: Principal, endpoint_id: str | None = None
) -> list[list[int]]:
    assert admin.tenant_id is not None
    pages, token = [], None
    while True:
        page = await controls.deliveries(admin, admin.tenant_id, endpoint_id, PageRequest(2, token))
        pages.append([d.delivery_id for d in page.items])
        if page.next_page_token is None:
            return pages
        token = page.next_page_token


async def test_the_delivery_log_comes_in_pages_each_delivery_once_newest_first(world: World) -> None:
    admin, _ = await world.tenant_with_project("acme")
    assert admin.tenant_id is not None
    logs = DeliveryLogs()
    logs.add(admin.tenant_id, "whk_a", 3)
    logs.add(admin.tenant_id, "whk_b", 2)
    controls = BillingControls(world.store, world.clock, logs)

    assert await every_delivery_page(controls, admin) == [[5, 4], [3, 2], [1]]
    assert await every_delivery_page(controls, admin, "whk_a") == [[3, 2], [1]]


async def test_a_bad_or_foreign_delivery_page_token_is_refused(world: World) -> None:
    acme, _ = await world.tenant_with_project("acme")
    globex, _ = await world.tenant_with_project("globex")
    assert acme.tenant_id is not None and globex.tenant_id is not None
    logs = DeliveryLogs()
    logs.add(acme.tenant_id, "whk_a", 3)
    logs.add(globex.tenant_id, "whk_g", 3)
    controls = BillingControls(world.store, world.clock, logs)
    first = await controls.deliveries(acme, acme.tenant_id, None, PageRequest(1))
    token = first.next_page_token
    assert token is not None
    asked = len(logs.asked)

    for bad in ("garbage!", token[:-3]):
        with pytest.raises(InvalidInput) as garbage:
            await controls.deliveries(acme, acme.tenant_id, None, PageRequest(1, bad))
        assert garbage.value.errors[0].field == "page_token"
    # acme's token on globex's own log is refused before metering is asked: nothing of acme's shows.
    with pytest.raises(InvalidInput, match="other filters") as foreign:
        await controls.deliveries(globex, globex.tenant_id, None, PageRequest(1, token))
    assert foreign.value.errors[0].field == "page_token"
    with pytest.raises(NotFound):
        await controls.deliveries(globex, acme.tenant_id, None, PageRequest(1, token))
    with pytest.raises(InvalidInput, match="other filters"):  # nor on another endpoint's listing
        await controls.deliveries(acme, acme.tenant_id, "whk_a", PageRequest(1, token))
    for size in (0, MAX_PAGE_SIZE + 1):
        with pytest.raises(InvalidInput) as too_many:
            await controls.deliveries(acme, acme.tenant_id, None, PageRequest(size))
        assert too_many.value.errors[0].field == "page_size"
    assert len(logs.asked) == asked


def test_a_page_of_deliveries_never_asks_metering_for_more_than_it_serves() -> None:
    assert MAX_PAGE_SIZE <= MAX_DELIVERIES
