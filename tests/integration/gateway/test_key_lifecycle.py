"""API keys' lifecycle through the HTTP API of a running gateway (PostgreSQL): revoked, expired and
rotated keys are 401 problems at once; listings never carry a secret and a tenant admin sees and touches
only its own tenant's keys; bad input is a 422 naming the field."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.gateway.conftest import OPERATOR, Gateway, Tenant, bearer

PROBLEM_JSON = "application/problem+json"


async def create_key(gateway: Gateway, tenant: Tenant, **body: Any) -> dict[str, Any]:
    created = await gateway.http.post(
        f"/v1/tenants/{tenant.tenant_id}/keys",
        json={"role": "member", "name": "ci"} | body,
        headers=bearer(tenant.admin_key),
    )
    assert created.status_code == 201, created.text
    key: dict[str, Any] = created.json()
    return key


async def projects_with(gateway: Gateway, secret: str) -> httpx.Response:
    return await gateway.http.get("/v1/projects", headers=bearer(secret))


def assert_unauthenticated(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["detail"] == detail


async def test_a_revoked_key_gets_401_on_its_next_request(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    key = await create_key(gateway, tenant)
    assert (await projects_with(gateway, key["api_key"])).status_code == 200

    revoked = await gateway.http.post(f"/v1/keys/{key['key_id']}/revoke", headers=bearer(tenant.admin_key))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None and "api_key" not in revoked.json()
    assert_unauthenticated(await projects_with(gateway, key["api_key"]), "the API key was revoked")


async def test_an_expired_key_gets_401(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    soon = datetime.now(UTC) + timedelta(seconds=1)
    dated = await create_key(gateway, tenant, expires_at=soon.isoformat())
    short_lived = await create_key(gateway, tenant, ttl_s=1)
    assert datetime.fromisoformat(dated["expires_at"]) == soon
    assert (await projects_with(gateway, dated["api_key"])).status_code == 200
    await asyncio.sleep(1.2)
    for key in (dated, short_lived):
        assert_unauthenticated(await projects_with(gateway, key["api_key"]), "the API key expired")


async def test_a_rotated_key_old_secret_401_new_one_works(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    key = await create_key(gateway, tenant, role="viewer", name="dashboards")
    rotated = await gateway.http.post(f"/v1/keys/{key['key_id']}/rotate", headers=bearer(tenant.admin_key))
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert (new["key_id"], new["name"], new["role"], new["tenant_id"]) == (
        key["key_id"],
        "dashboards",
        "viewer",
        tenant.tenant_id,
    )
    assert new["api_key"] != key["api_key"] and new["previous_secret_expires_at"] is None
    assert_unauthenticated(await projects_with(gateway, key["api_key"]), "the API key is not known")
    assert (await projects_with(gateway, new["api_key"])).status_code == 200

    # With a grace the old secret works a while longer; the operator may rotate any tenant's key.
    graced = await gateway.http.post(
        f"/v1/keys/{key['key_id']}/rotate", json={"grace_s": 60}, headers=OPERATOR
    )
    assert graced.status_code == 200 and graced.json()["previous_secret_expires_at"] is not None
    assert (await projects_with(gateway, new["api_key"])).status_code == 200
    assert (await projects_with(gateway, graced.json()["api_key"])).status_code == 200


async def test_listing_never_shows_a_secret_and_a_tenant_admin_sees_only_its_own(gateway: Gateway) -> None:
    acme = await gateway.new_tenant("acme")
    globex = await gateway.new_tenant("globex", "lab")
    acme_key = await create_key(gateway, acme, ttl_s=3600)
    globex_key = await create_key(gateway, globex)
    assert (await projects_with(gateway, acme_key["api_key"])).status_code == 200

    listed = await gateway.http.get("/v1/keys", headers=bearer(acme.admin_key))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert {k["tenant_id"] for k in items} == {acme.tenant_id} and len(items) == 2
    (ci,) = [k for k in items if k["key_id"] == acme_key["key_id"]]
    assert set(ci) == {
        "key_id",
        "name",
        "role",
        "tenant_id",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }
    assert ci["last_used_at"] is not None and ci["expires_at"] == acme_key["expires_at"]
    everything = (await gateway.http.get("/v1/keys", headers=OPERATOR)).text
    for secret in (acme.admin_key, globex.admin_key, acme_key["api_key"], globex_key["api_key"]):
        assert secret not in listed.text and secret not in everything
    assert globex_key["key_id"] in everything

    # Another tenant's key is missing, not forbidden; the operator may filter by tenant.
    acme_admin = bearer(acme.admin_key)
    for method, path in (
        ("GET", f"/v1/keys/{globex_key['key_id']}"),
        ("POST", f"/v1/keys/{globex_key['key_id']}/revoke"),
        ("POST", f"/v1/keys/{globex_key['key_id']}/rotate"),
        ("GET", f"/v1/keys?tenant_id={globex.tenant_id}"),
        ("POST", f"/v1/tenants/{globex.tenant_id}/keys"),
    ):
        body = {"role": "admin", "name": "x"} if path.endswith("/keys") else None
        answer = await gateway.http.request(method, path, headers=acme_admin, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await projects_with(gateway, globex_key["api_key"])).status_code == 200
    only_globex = await gateway.http.get("/v1/keys", params={"tenant_id": globex.tenant_id}, headers=OPERATOR)
    assert {k["tenant_id"] for k in only_globex.json()["items"]} == {globex.tenant_id}


async def test_members_cannot_manage_keys(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    member = bearer(await gateway.new_key(tenant, "member"))
    key = await create_key(gateway, tenant)
    for method, path in (
        ("GET", "/v1/keys"),
        ("POST", f"/v1/keys/{key['key_id']}/revoke"),
        ("POST", f"/v1/keys/{key['key_id']}/rotate"),
    ):
        answer = await gateway.http.request(method, path, headers=member)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM_JSON)


async def test_keys_are_paged_like_every_list(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    for _ in range(3):
        await create_key(gateway, tenant)
    admin = bearer(tenant.admin_key)
    first = (await gateway.http.get("/v1/keys", params={"page_size": 3}, headers=admin)).json()
    assert len(first["items"]) == 3 and first["next_page_token"]
    rest = await gateway.http.get(
        "/v1/keys", params={"page_size": 3, "page_token": first["next_page_token"]}, headers=admin
    )
    assert [k["key_id"] for k in rest.json()["items"]] != [] and rest.json()["next_page_token"] is None
    bad = await gateway.http.get("/v1/keys", params={"page_token": "nonsense"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "page_token"


async def test_bad_key_input_is_a_422_naming_the_field(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    admin = bearer(tenant.admin_key)
    path = f"/v1/tenants/{tenant.tenant_id}/keys"
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"role": "member", "name": "k", "ttl_s": 0}, "ttl_s"),
        ({"role": "member", "name": "k", "ttl_s": "soon"}, "ttl_s"),
        ({"role": "member", "name": "k", "expires_at": past}, "expires_at"),
        ({"role": "member", "name": "k", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"role": "member", "name": "k", "ttl_s": 60, "expires_at": "2999-01-01T00:00:00Z"}, "ttl_s"),
        ({"role": "owner", "name": "k"}, "role"),
    ]
    for body, field in cases:
        answer = await gateway.http.post(path, json=body, headers=admin)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM_JSON)
        assert [e["field"] for e in answer.json()["errors"]] == [field], (body, answer.json())
    key = await create_key(gateway, tenant)
    for grace in (-1, 86_401, "a minute"):
        answer = await gateway.http.post(
            f"/v1/keys/{key['key_id']}/rotate", json={"grace_s": grace}, headers=admin
        )
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "grace_s", answer.text
    revoked = await gateway.http.post(f"/v1/keys/{key['key_id']}/revoke", headers=admin)
    assert revoked.status_code == 200
    conflict = await gateway.http.post(f"/v1/keys/{key['key_id']}/rotate", headers=admin)
    assert conflict.status_code == 409 and conflict.headers["content-type"].startswith(PROBLEM_JSON)
