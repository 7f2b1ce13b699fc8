"""The running metering service answers its internal API to the gateway only ("Zero trust"): a process
that merely reaches the port (a job on the same host, say) gets 401 on every route, forged or expired
assertions too; an assertion for one tenant reads that tenant's data only, whatever the query asks; the
fleet's chargeback needs the operator's fleet scope. /healthz stays open."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.contracts import metering_api as api
from shared.contracts.service_auth import TTL_S, ServiceScope, authorization
from tests.integration.metering.billing_events_harness import Metering, running_metering
from tests.integration.metering.gateway_auth import METERING_API_KEY, AsGateway
from tests.integration.metering.test_delivery_log_pages import seed_deliveries

PROBLEM = "application/problem+json"
ACME, GLOBEX = "tnt_acme", "tnt_globex"
ROUTES = [
    (api.USAGE_PATH, {"start": "2026-01-01", "end": "2026-01-02"}),
    (api.BUDGETS_PATH, {}),
    (api.WEBHOOKS_PATH, {}),
    (api.DELIVERIES_PATH, {}),
    (api.CHARGEBACK_PATH, {"period": "2026-01"}),
    (api.INVOICE_EXPORT_PATH.format(invoice_id="inv_1"), {"format": "json"}),
    (api.FOCUS_PATH, {"period": "2026-01"}),
]


@pytest.fixture
async def metering(nats_url: str, fresh_database: str) -> AsyncIterator[Metering]:
    async with running_metering(nats_url, fresh_database) as running:
        yield running


@pytest.fixture
async def http(metering: Metering) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metering.host.http.port}") as client:
        yield client


def as_tenant(
    tenant_id: str | None, path: str, *, key: str = METERING_API_KEY, age_s: float = 0
) -> dict[str, str]:
    scope = ServiceScope.fleet() if tenant_id is None else ServiceScope.tenant(tenant_id)
    return {"Authorization": authorization(key, scope, "GET", path, time.time() - age_s)}


def assert_unauthenticated(response: httpx.Response) -> None:
    assert (response.status_code, response.headers["content-type"]) == (401, PROBLEM), response.text
    assert response.json()["code"] == "unauthenticated"
    assert "tnt_" not in response.text


async def test_healthz_needs_no_assertion(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200


@pytest.mark.parametrize(("path", "params"), ROUTES)
async def test_every_route_refuses_a_call_without_an_assertion(
    http: httpx.AsyncClient, metering: Metering, path: str, params: dict[str, str]
) -> None:
    await seed_deliveries(metering.host.settings.database_url, ACME, "whk_acme", [1])
    # What a job could try: ask for a tenant by its id, or for the whole fleet.
    assert_unauthenticated(await http.get(path, params=params | {"tenant_id": ACME}))
    assert_unauthenticated(await http.get(path, params=params))


@pytest.mark.parametrize(("path", "params"), ROUTES)
async def test_forged_expired_or_misdirected_assertions_are_401(
    http: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    forged = as_tenant(ACME, path, key="guessed-" + METERING_API_KEY)
    expired = as_tenant(ACME, path, age_s=TTL_S + 60)
    for_another_path = as_tenant(ACME, "/v1/elsewhere")
    for headers in (forged, expired, for_another_path):
        assert_unauthenticated(await http.get(path, params=params, headers=headers))


async def test_an_assertion_for_one_tenant_never_reads_another(
    http: httpx.AsyncClient, metering: Metering
) -> None:
    database_url = metering.host.settings.database_url
    await seed_deliveries(database_url, ACME, "whk_acme", [1, 2])
    await seed_deliveries(database_url, GLOBEX, "whk_globex", [3])
    path = api.DELIVERIES_PATH

    own = await http.get(path, headers=as_tenant(ACME, path))
    assert own.status_code == 200, own.text
    assert own.json()["tenant_id"] == ACME
    assert {item["endpoint_id"] for item in own.json()["items"]} == {"whk_acme"}

    # Acme's assertion asking for globex's log, by the query or by globex's endpoint.
    asked = await http.get(path, params={"tenant_id": GLOBEX}, headers=as_tenant(ACME, path))
    assert (asked.status_code, asked.headers["content-type"]) == (403, PROBLEM)
    assert GLOBEX not in asked.text and "whk_globex" not in asked.text
    by_endpoint = await http.get(path, params={"endpoint_id": "whk_globex"}, headers=as_tenant(ACME, path))
    assert (by_endpoint.status_code, by_endpoint.json()["items"]) == (200, [])

    hooks = await http.get(api.WEBHOOKS_PATH, headers=as_tenant(ACME, api.WEBHOOKS_PATH))
    assert [e["endpoint_id"] for e in hooks.json()["items"]] == ["whk_acme"]


async def test_the_fleets_chargeback_needs_the_operators_fleet_scope(http: httpx.AsyncClient) -> None:
    path, period = api.CHARGEBACK_PATH, {"period": "2026-01"}

    fleet = await http.get(path, params=period, headers=as_tenant(None, path))
    assert (fleet.status_code, fleet.json()["scope"]) == (200, "fleet")

    # A tenant's assertion gets that tenant's view, with or without a tenant_id of its own.
    for params in (period, period | {"tenant_id": ACME}):
        tenant = await http.get(path, params=params, headers=as_tenant(ACME, path))
        assert tenant.status_code == 200, tenant.text
        assert (tenant.json()["scope"], tenant.json()["tenant_id"]) == ("tenant", ACME)
        assert "models" not in tenant.json()

    # Nor may a tenant_id narrow (or widen) what was asserted.
    for headers, tenant_id in ((as_tenant(ACME, path), GLOBEX), (as_tenant(None, path), ACME)):
        refused = await http.get(path, params=period | {"tenant_id": tenant_id}, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "scope_mismatch")


async def test_a_tenants_routes_refuse_the_fleet_scope(http: httpx.AsyncClient) -> None:
    for path, params in ROUTES:
        if path == api.CHARGEBACK_PATH:
            continue
        response = await http.get(path, params=params, headers=as_tenant(None, path))
        assert (response.status_code, response.json()["code"]) == (403, "scope_mismatch"), path


async def test_the_gateways_helper_signs_as_the_gateway_does(metering: Metering) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{metering.host.http.port}", auth=AsGateway(ServiceScope.tenant(ACME))
    ) as client:
        budgets = await client.get(api.BUDGETS_PATH)
    assert (budgets.status_code, budgets.json()["tenant_id"]) == (200, ACME)
