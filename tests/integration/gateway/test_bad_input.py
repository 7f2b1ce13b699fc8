"""Bad requests each get an RFC 9457 problem whose detail says what is wrong, and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from shared.events.scheduler import NodeStateChanged
from tests.integration.gateway.conftest import OPERATOR, Gateway, Tenant, bearer, eventually, job_spec

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, *detail_parts: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and problem["type"].startswith("urn:aifactory:problem:")
    assert problem["title"]
    for part in detail_parts:
        assert part in problem["detail"], problem
    return dict(problem)


async def submit(gateway: Gateway, tenant: Tenant, body: Any, **kwargs: Any) -> httpx.Response:
    return await gateway.http.post("/v1/jobs", json=body, headers=bearer(tenant.admin_key), **kwargs)


async def test_malformed_json_is_a_400_naming_the_position(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    response = await gateway.http.post(
        "/v1/jobs",
        content=b'{"project_id": "x", "spec": ',
        headers=bearer(tenant.admin_key) | {"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "not valid JSON", "at character 28")


async def test_wrong_types_are_a_422_listing_each_field(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    response = await submit(
        gateway,
        tenant,
        {"project_id": tenant.project_id, "spec": job_spec(replicas="many", command="train.py")},
    )
    problem = assert_problem(response, 422, "spec.replicas", "spec.command")
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"spec.replicas", "spec.command"}
    assert all(e["in"] == "body" for e in problem["errors"])


async def test_gpus_per_replica_of_zero_or_less_is_refused(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    for gpus in (0, -4):
        response = await submit(
            gateway, tenant, {"project_id": tenant.project_id, "spec": job_spec(gpus_per_replica=gpus)}
        )
        problem = assert_problem(response, 422, "spec.gpus_per_replica", "greater than or equal to 1")
        assert problem["errors"][0]["field"] == "spec.gpus_per_replica"
    assert await gateway.count("SELECT count(*) FROM jobs") == 0


async def test_a_malformed_pool_name_is_refused(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    response = await submit(
        gateway, tenant, {"project_id": tenant.project_id, "spec": job_spec(pool="GPU Pool")}
    )
    problem = assert_problem(response, 422, "spec.pool", "should match pattern")
    assert problem["errors"][0]["field"] == "spec.pool"
    assert await gateway.count("SELECT count(*) FROM jobs") == 0


async def test_unknown_fields_are_reported_not_dropped(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    response = await submit(gateway, tenant, {"project_id": tenant.project_id, "spec": job_spec(gpu=2)})
    assert_problem(response, 422, "spec.gpu", "Extra inputs are not permitted")


async def test_an_unknown_project_is_a_404_naming_it(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    response = await submit(gateway, tenant, {"project_id": "prj_nothere", "spec": job_spec()})
    assert_problem(response, 404, "project prj_nothere not found")


async def test_an_oversize_body_is_a_413_by_declared_length(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    big = job_spec(env={"PAD": "x" * 5000})
    response = await submit(gateway, tenant, {"project_id": tenant.project_id, "spec": big})
    assert_problem(response, 413, "exceeds the limit of 4096 bytes")


async def test_an_oversize_body_is_a_413_when_streamed_without_a_length(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"project_id": "' + tenant.project_id.encode() + b'", "spec": {"name": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'", "command": ["x"]}}'

    response = await gateway.http.post(
        "/v1/jobs",
        content=chunks(),
        headers=bearer(tenant.admin_key) | {"Content-Type": "application/json"},
    )
    assert_problem(response, 413, "exceeds the limit of 4096 bytes")
    assert await gateway.count("SELECT count(*) FROM jobs") == 0


async def test_a_non_json_body_is_a_415(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    response = await gateway.http.post(
        "/v1/jobs", content=b"name=x", headers=bearer(tenant.admin_key) | {"Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "application/json", "text/plain")


async def test_unknown_or_missing_keys_are_a_401(gateway: Gateway) -> None:
    unknown = await gateway.http.get("/v1/jobs", headers=bearer("afk_not-a-real-key"))
    assert_problem(unknown, 401, "not known")
    assert unknown.headers["www-authenticate"].startswith("Bearer")
    missing = await gateway.http.get("/v1/jobs")
    assert_problem(missing, 401, "Authorization: Bearer")
    basic = await gateway.http.get("/v1/jobs", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_problem(basic, 401, "must be 'Bearer <API key>'")


async def test_the_x_api_key_header_is_accepted(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    response = await gateway.http.get("/v1/projects", headers={"X-API-Key": tenant.admin_key})
    assert response.status_code == 200 and len(response.json()["items"]) == 1


async def test_unknown_routes_and_methods_are_problems(gateway: Gateway) -> None:
    assert_problem(await gateway.http.get("/v1/nothing", headers=OPERATOR), 404, "/v1/nothing")
    assert_problem(await gateway.http.delete("/v1/projects", headers=OPERATOR), 405, "DELETE")


async def test_bad_query_parameters_name_the_parameter(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    admin = bearer(tenant.admin_key)
    size = await gateway.http.get("/v1/jobs", params={"page_size": 501}, headers=admin)
    assert assert_problem(size, 422, "page_size")["errors"][0]["in"] == "query"
    state = await gateway.http.get("/v1/jobs", params={"state": "sleeping"}, headers=admin)
    assert_problem(state, 422, "state")
    token = await gateway.http.get("/v1/jobs", params={"page_token": "garbage!"}, headers=admin)
    assert_problem(token, 422, "page_token")


async def test_bad_currency_period_and_prices_are_named(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    currency = await gateway.http.post("/v1/tenants", json={"name": "x", "currency": "usd"}, headers=OPERATOR)
    assert_problem(currency, 422, "currency", "ISO 4217")
    period = await gateway.http.post(
        "/v1/invoices/finalize", json={"tenant_id": tenant.tenant_id, "period": "2026-13"}, headers=OPERATOR
    )
    assert_problem(period, 422, "period", "YYYY-MM")
    prices = await gateway.http.put(
        f"/v1/tenants/{tenant.tenant_id}/price-book",
        json={"gpu_hour": {"A100": "-1"}, "per_kwh": "abc"},
        headers=OPERATOR,
    )
    assert_problem(prices, 422, "per_kwh")
    negative = await gateway.http.put(
        f"/v1/tenants/{tenant.tenant_id}/price-book", json={"gpu_hour": {"A100": "-1"}}, headers=OPERATOR
    )
    assert_problem(negative, 422, "gpu_hour.A100", "0 or more")


async def test_pricing_rules_are_refused_at_the_edge_naming_every_field(gateway: Gateway) -> None:
    """The pricing core's rules (metering applies the same ones): refused here, never sent on to metering."""
    tenant = await gateway.new_tenant()
    unknown = await gateway.http.post("/v1/tenants", json={"name": "x", "currency": "XYZ"}, headers=OPERATOR)
    assert_problem(unknown, 422, "currency", "'XYZ' is not an ISO 4217 currency code")
    plans = {
        "gpu_hour": {"A100": "2"},
        "plans": [
            {
                "meter": "gpu_hours",
                "gpu_model": "A100",
                "kind": "tiered",
                "tiers": [{"up_to": "10", "unit_price": "2"}, {"up_to": "5", "unit_price": "1"}],
            }
        ],
        "commitments": [{"commitment_id": "c", "kind": "quantity", "committed": "0"}],
    }
    book = await gateway.http.put(f"/v1/tenants/{tenant.tenant_id}/price-book", json=plans, headers=OPERATOR)
    assert [e["field"] for e in assert_problem(book, 422)["errors"]] == [
        "plans[0].tiers[1].up_to",
        "commitments[0].committed",
        "commitments[0].meter",
    ]
    credit = await gateway.http.post(
        f"/v1/tenants/{tenant.tenant_id}/credits", json={"amount": "0.001"}, headers=OPERATOR
    )
    assert_problem(credit, 422, "amount", "more decimals than USD's 2")


async def test_a_replica_larger_than_the_largest_ready_node_is_refused(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    for node_id, model, gpus in (("n1", "A100", 8), ("n2", "H100", 4)):
        await gateway.publish(
            NodeStateChanged(
                occurred_at=gateway.service.clock.now(),
                node_id=node_id,
                state="ready",
                gpu_model=model,
                gpu_count=gpus,
            )
        )
    await eventually(lambda: gateway.count("SELECT count(*) FROM nodes"), lambda n: n == 2)

    too_big = await submit(
        gateway, tenant, {"project_id": tenant.project_id, "spec": job_spec(gpus_per_replica=16)}
    )
    assert_problem(too_big, 422, "a replica asks 16 GPUs but the largest node has 8")
    wrong_model = await submit(
        gateway,
        tenant,
        {"project_id": tenant.project_id, "spec": job_spec(gpus_per_replica=8, gpu_models=["H100"])},
    )
    assert_problem(wrong_model, 422, "a replica asks 8 GPUs but the largest node of model H100 has 4")
    fits = await submit(
        gateway, tenant, {"project_id": tenant.project_id, "spec": job_spec(gpus_per_replica=8)}
    )
    assert fits.status_code == 201
