"""Budgets and webhooks through the gateway, with the real metering service behind it: set through the
gateway (events to metering), read back from metering's internal API; who may do what; bad input."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.js.errors import NotFoundError

from services.gateway.adapters.consumers import INVOICES_DURABLE, JOBS_DURABLE, NODES_DURABLE
from services.gateway.domain.pages import PageCursor
from services.gateway.domain.requests import listing_filters
from services.gateway.main import create_service
from services.gateway.settings import GatewaySettings
from shared.clock import Clock
from shared.messaging.streams import METERING, SCHEDULER
from tests.integration.gateway.conftest import ADMIN_KEY, OPERATOR, Gateway, bearer, eventually
from tests.integration.gateway.test_bad_input import assert_problem
from tests.integration.gateway.test_pagination import every_page
from tests.integration.metering.billing_events_harness import running_metering
from tests.integration.metering.gateway_auth import METERING_API_KEY
from tests.integration.metering.test_delivery_log_pages import newest_first, seed_deliveries


@pytest.fixture
async def gateway(nats_url: str, fresh_database: str) -> AsyncIterator[Gateway]:
    """A gateway whose metering is a real metering service (same NATS, same database)."""
    async with gateway_with_metering(nats_url, fresh_database) as running:
        yield running


@contextlib.asynccontextmanager
async def gateway_with_metering(
    nats_url: str, fresh_database: str, clock: Clock | None = None
) -> AsyncIterator[Gateway]:
    """A gateway (on `clock`, real time by default) in front of a real metering service."""
    async with running_metering(nats_url, fresh_database) as metering:
        for stream, durable in (
            (SCHEDULER, JOBS_DURABLE),
            (SCHEDULER, NODES_DURABLE),
            (METERING, INVOICES_DURABLE),
        ):
            with contextlib.suppress(NotFoundError):
                await metering.js.delete_consumer(stream.name, durable)
        settings = GatewaySettings(
            nats_url=nats_url,
            database_url=fresh_database,
            admin_key=ADMIN_KEY,
            http_port=0,
            outbox_poll_s=0.1,
            metering_url=f"http://127.0.0.1:{metering.host.http.port}",
            metering_api_key=METERING_API_KEY,  # the secret the test's metering holds
        )
        service = create_service(settings, clock)
        await service.start()
        transport = httpx.ASGITransport(app=service.http_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Gateway(service, http)
        await service.stop()


async def read_when(gateway: Gateway, path: str, key: str, accept: Any) -> httpx.Response:
    """GET until metering shows what was set (it applies the gateway's events shortly after)."""
    return await eventually(
        lambda: gateway.http.get(path, headers=bearer(key)),
        lambda r: r.status_code == 200 and accept(r.json()),
    )


async def test_budgets_are_set_through_the_gateway_and_read_back_with_spend_and_forecast(
    gateway: Gateway,
) -> None:
    tenant = await gateway.new_tenant()
    viewer = await gateway.new_key(tenant, "viewer")
    project_budget = {
        "amount": "250.00",
        "thresholds_percent": [90, 50],
        "hard_cap": True,
        "on_exhaustion": "stop",
    }

    put = await gateway.http.put(
        f"/v1/projects/{tenant.project_id}/budget", json=project_budget, headers=bearer(tenant.admin_key)
    )
    assert put.status_code == 200, put.text
    assert put.json() | {"set_at": None} == {
        "budget_id": f"bud_{tenant.project_id}",
        "tenant_id": tenant.tenant_id,
        "project_id": tenant.project_id,
        "amount": "250.00",
        "currency": "USD",
        "thresholds_percent": ["50", "90"],
        "hard_cap": True,
        "on_exhaustion": "stop",
        "set_at": None,
    }
    tenant_put = await gateway.http.put(
        f"/v1/tenants/{tenant.tenant_id}/budget", json={"amount": 1000}, headers=OPERATOR
    )
    assert tenant_put.status_code == 200, tenant_put.text

    read = await read_when(
        gateway, f"/v1/projects/{tenant.project_id}/budget", viewer, lambda body: body["amount"] == "250.00"
    )
    budget = read.json()
    assert (budget["spend"], budget["forecast_spend"], budget["exhausted"], budget["thresholds_crossed"]) == (
        "0",
        "0.00",
        False,
        [],
    )
    assert (budget["hard_cap"], budget["on_exhaustion"], budget["tenant_id"]) == (
        True,
        "stop",
        tenant.tenant_id,
    )
    listing = await read_when(gateway, "/v1/budgets", viewer, lambda body: len(body["items"]) == 2)
    tenant_wide = next(item for item in listing.json()["items"] if item["project_id"] is None)
    assert (tenant_wide["amount"], tenant_wide["thresholds_percent"], tenant_wide["hard_cap"]) == (
        "1000",
        ["50", "80", "100"],
        False,
    )
    operator_view = await gateway.http.get(f"/v1/budgets?tenant_id={tenant.tenant_id}", headers=OPERATOR)
    assert operator_view.status_code == 200 and len(operator_view.json()["items"]) == 2


async def test_who_may_set_and_read_budgets(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant("acme")
    other = await gateway.new_tenant("globex")
    viewer = await gateway.new_key(tenant, "viewer")
    path = f"/v1/projects/{tenant.project_id}/budget"

    assert_problem(
        await gateway.http.put(path, json={"amount": 10}, headers=bearer(viewer)), 403, "admin role"
    )
    assert_problem(await gateway.http.put(path, json={"amount": 10}, headers=bearer(other.admin_key)), 404)
    assert_problem(await gateway.http.get(path, headers=bearer(other.admin_key)), 404)
    assert_problem(await gateway.http.get("/v1/budgets", headers=OPERATOR), 422, "tenant_id")
    # Nothing set yet: no budget to show.
    assert_problem(await gateway.http.get(path, headers=bearer(viewer)), 404, f"bud_{tenant.project_id}")


async def test_bad_budgets_are_refused_naming_each_field(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    path = f"/v1/projects/{tenant.project_id}/budget"
    body = {"amount": "-5", "currency": "EUR", "thresholds_percent": [0, 50, 50]}

    problem = assert_problem(await gateway.http.put(path, json=body, headers=bearer(tenant.admin_key)), 422)
    assert {e["field"] for e in problem["errors"]} == {"amount", "thresholds_percent.0", "thresholds_percent"}
    mismatch = await gateway.http.put(
        path, json={"amount": 5, "currency": "EUR"}, headers=bearer(tenant.admin_key)
    )
    assert_problem(mismatch, 422, "EUR differs from the tenant's currency USD")
    policy = await gateway.http.put(
        path, json={"amount": 5, "on_exhaustion": "panic"}, headers=bearer(tenant.admin_key)
    )
    assert_problem(policy, 422, "on_exhaustion")


async def test_webhooks_are_registered_listed_and_removed_through_the_gateway(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    member = await gateway.new_key(tenant, "member")
    hooks = f"/v1/tenants/{tenant.tenant_id}/webhooks"

    created = await gateway.http.post(
        hooks,
        json={"url": "https://billing.example/hooks", "event_types": ["metering.v1.budget.exhausted"]},
        headers=bearer(tenant.admin_key),
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_") and len(endpoint["secret"]) > 32  # generated, shown once
    given = await gateway.http.post(
        hooks,
        json={"url": "http://billing.example:9000/in", "secret": "s" * 20},
        headers=bearer(tenant.admin_key),
    )
    assert given.status_code == 201 and given.json()["secret"] is None  # a secret given is never echoed

    listing = await read_when(gateway, hooks, tenant.admin_key, lambda body: len(body["items"]) == 2)
    assert "secret" not in listing.text
    assert {(e["endpoint_id"], e["active"]) for e in listing.json()["items"]} == {
        (endpoint["endpoint_id"], True),
        (given.json()["endpoint_id"], True),
    }

    removed = await gateway.http.delete(
        f"{hooks}/{endpoint['endpoint_id']}", headers=bearer(tenant.admin_key)
    )
    assert removed.status_code == 202, removed.text
    await read_when(
        gateway,
        hooks,
        tenant.admin_key,
        lambda body: {e["endpoint_id"]: e["active"] for e in body["items"]}[endpoint["endpoint_id"]] is False,
    )
    log = await gateway.http.get(f"{hooks}/deliveries", headers=bearer(tenant.admin_key))
    assert log.status_code == 200
    assert log.json() == {"tenant_id": tenant.tenant_id, "items": [], "next_page_token": None}

    assert_problem(await gateway.http.get(hooks, headers=bearer(member)), 403, "admin role")
    bad = await gateway.http.post(
        hooks,
        json={"url": "ftp://billing.example", "secret": "short", "event_types": ["metering.v1.nope"]},
        headers=bearer(tenant.admin_key),
    )
    problem = assert_problem(bad, 422)
    assert {e["field"] for e in problem["errors"]} == {"url", "secret", "event_types"}


async def test_the_delivery_log_comes_in_pages_each_delivery_once_newest_first(
    gateway: Gateway, fresh_database: str
) -> None:
    tenant = await gateway.new_tenant("acme")
    # Ties in created_at, and one created earlier than the one before it: (created_at, id) orders them.
    seeded = await seed_deliveries(fresh_database, tenant.tenant_id, "whk_acme", [1, 3, 3, 2, 5])
    seeded += await seed_deliveries(fresh_database, tenant.tenant_id, "whk_other", [4])
    path = f"/v1/tenants/{tenant.tenant_id}/webhooks/deliveries"

    pages = await every_page(gateway, path, bearer(tenant.admin_key))
    assert [len(page) for page in pages] == [2, 2, 2]
    assert [item["delivery_id"] for page in pages for item in page] == newest_first(seeded)
    one_endpoint = await every_page(gateway, path, bearer(tenant.admin_key), endpoint_id="whk_other")
    assert [[item["delivery_id"] for item in page] for page in one_endpoint] == [newest_first(seeded[5:])]

    for size in (0, 501, "many"):
        too_many = await gateway.http.get(path, params={"page_size": size}, headers=bearer(tenant.admin_key))
        assert_problem(too_many, 422, "page_size")
    garbage = await gateway.http.get(
        path, params={"page_token": "garbage!"}, headers=bearer(tenant.admin_key)
    )
    assert_problem(garbage, 422, "page_token")
    # A token of this listing wrapping a cursor metering refuses: the caller's bad token, not a 503.
    forged = PageCursor(("garbage!",), listing_filters("deliveries", tenant.tenant_id, None)).encode()
    refused = await gateway.http.get(path, params={"page_token": forged}, headers=bearer(tenant.admin_key))
    assert_problem(refused, 422, "page_token")


async def test_a_delivery_page_token_of_another_tenant_reveals_nothing(
    gateway: Gateway, fresh_database: str
) -> None:
    acme, globex = await gateway.new_tenant("acme"), await gateway.new_tenant("globex")
    acmes = await seed_deliveries(fresh_database, acme.tenant_id, "whk_acme", [1, 2, 3, 4])
    globexes = await seed_deliveries(fresh_database, globex.tenant_id, "whk_globex", [0, 2, 5])
    acme_path = f"/v1/tenants/{acme.tenant_id}/webhooks/deliveries"
    globex_path = f"/v1/tenants/{globex.tenant_id}/webhooks/deliveries"
    first = await gateway.http.get(acme_path, params={"page_size": 1}, headers=bearer(acme.admin_key))
    token = first.json()["next_page_token"]
    assert token is not None

    carried = await gateway.http.get(
        globex_path, params={"page_token": token}, headers=bearer(globex.admin_key)
    )
    assert_problem(carried, 422, "page_token", "other filters")
    aimed = await gateway.http.get(acme_path, params={"page_token": token}, headers=bearer(globex.admin_key))
    assert_problem(aimed, 404)
    # Re-bound to globex's own listing by hand, acme's place in the log still reads only globex's log.
    place = PageCursor.decode(token, listing_filters("deliveries", acme.tenant_id, None), 1).key
    rebound = PageCursor(place, listing_filters("deliveries", globex.tenant_id, None)).encode()
    pages = await every_page(gateway, globex_path, bearer(globex.admin_key), page_token=rebound)
    seen = {item["delivery_id"] for page in pages for item in page}
    assert seen and seen <= {delivery_id for _, delivery_id in globexes}
    assert not seen & {delivery_id for _, delivery_id in acmes}
