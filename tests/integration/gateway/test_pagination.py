"""Every list of the gateway is paged alike: page_size, page_token, next_page_token (null on the last)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.gateway.adapters.postgres.store import PgGatewayStore
from services.gateway.domain.model import Invoice, Node
from tests.integration.gateway.conftest import OPERATOR, Gateway, bearer
from tests.integration.gateway.test_bad_input import assert_problem

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def every_page(gateway: Gateway, path: str, headers: dict[str, str], **params: Any) -> list[list[Any]]:
    """The pages of a listing, two items a page, following next_page_token."""
    pages: list[list[Any]] = []
    query = {**params, "page_size": 2}
    while True:
        response = await gateway.http.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        if body["next_page_token"] is None:
            return pages
        query["page_token"] = body["next_page_token"]


async def test_tenants_and_projects_come_in_pages_oldest_first(gateway: Gateway) -> None:
    names = [f"tenant-{i}" for i in range(5)]
    tenants = [await gateway.new_tenant(name) for name in names]
    pages = await every_page(gateway, "/v1/tenants", OPERATOR)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [t["name"] for page in pages for t in page] == names

    admin = bearer(tenants[0].admin_key)
    for name in ("b", "c", "d"):
        made = await gateway.http.post("/v1/projects", json={"name": name}, headers=admin)
        assert made.status_code == 201, made.text
    pages = await every_page(gateway, "/v1/projects", admin)
    assert [[p["name"] for p in page] for page in pages] == [["research", "b"], ["c", "d"]]
    # A tenant's pages hold only its own.
    assert await every_page(gateway, "/v1/projects", bearer(tenants[1].admin_key)) == [
        [await project_of(gateway, tenants[1].admin_key)]
    ]


async def project_of(gateway: Gateway, key: str) -> dict[str, Any]:
    listed = await gateway.http.get("/v1/projects", headers=bearer(key))
    [project] = listed.json()["items"]
    return dict(project)


async def test_invoices_and_nodes_come_in_pages(gateway: Gateway) -> None:
    store = PgGatewayStore(lambda: gateway.service.db)
    periods = ["2026-01", "2026-02", "2026-03"]
    async with store.transaction() as uow:
        for period in periods:
            for tenant in ("tnt_a", "tnt_b"):
                invoice_id = f"inv_{tenant}_{period}"
                await uow.invoices.save(
                    Invoice(invoice_id, tenant, period, "draft", "USD", (), Decimal(0), False, T0)
                )
        for node in ("n3", "n1", "n5", "n2", "n4"):
            await uow.nodes.save(Node(node, "ready", "A100", 8, T0))

    pages = await every_page(gateway, "/v1/invoices", OPERATOR)
    assert [[i["invoice_id"] for i in page] for page in pages] == [
        ["inv_tnt_a_2026-03", "inv_tnt_b_2026-03"],
        ["inv_tnt_a_2026-02", "inv_tnt_b_2026-02"],
        ["inv_tnt_a_2026-01", "inv_tnt_b_2026-01"],
    ]
    one_tenant = await every_page(gateway, "/v1/invoices", OPERATOR, tenant_id="tnt_b")
    assert [i["period"] for page in one_tenant for i in page] == ["2026-03", "2026-02", "2026-01"]

    pages = await every_page(gateway, "/v1/nodes", OPERATOR)
    assert [[n["node_id"] for n in page] for page in pages] == [["n1", "n2"], ["n3", "n4"], ["n5"]]


@pytest.mark.parametrize("path", ["/v1/tenants", "/v1/projects", "/v1/invoices", "/v1/nodes", "/v1/jobs"])
async def test_a_bad_page_size_or_token_is_a_422_naming_it(gateway: Gateway, path: str) -> None:
    for size in (0, 501, "many"):
        response = await gateway.http.get(path, params={"page_size": size}, headers=OPERATOR)
        assert_problem(response, 422, "page_size")
    garbage = await gateway.http.get(path, params={"page_token": "garbage!"}, headers=OPERATOR)
    assert_problem(garbage, 422, "page_token")


async def test_a_token_is_refused_by_another_listing(gateway: Gateway) -> None:
    for name in ("a", "b", "c"):
        await gateway.new_tenant(name)
    first = await gateway.http.get("/v1/tenants", params={"page_size": 1}, headers=OPERATOR)
    token = first.json()["next_page_token"]
    assert token is not None
    response = await gateway.http.get("/v1/projects", params={"page_token": token}, headers=OPERATOR)
    assert_problem(response, 422, "page_token", "other filters")
