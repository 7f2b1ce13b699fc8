"""Metering's internal HTTP app answers only the gateway: every route but /healthz needs a valid signed
assertion (401 problem+json naming no tenant otherwise), and the tenant read is the asserted one, never a
query parameter (one that differs: 403). No database: the usage route reads a fake."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter

from services.metering.platform.http import CallerScope, TenantId, create_http_app
from services.metering.usage.adapters.http import usage_router
from services.metering.usage.domain.queries import UsageQuery, UsageRow
from shared.contracts.service_auth import SCHEME, TTL_S, ServiceScope, authorization, sign

KEY = "unit-test-metering-api-key-0123456789abcdef"
USAGE = {"start": "2026-11-01", "end": "2026-11-02"}
PROBLEM = "application/problem+json"
ACME, GLOBEX = ServiceScope.tenant("tnt_acme"), ServiceScope.tenant("tnt_globex")


class RecordingReader:
    def __init__(self) -> None:
        self.tenants: list[str] = []

    async def usage(self, query: UsageQuery) -> list[UsageRow]:
        self.tenants.append(query.tenant_id)
        return []


def probe_router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/probe/tenant")
    async def tenant(tenant_id: TenantId) -> dict[str, str]:
        return {"tenant_id": tenant_id}

    @router.get("/v1/probe/scope")
    async def scope(caller: CallerScope) -> dict[str, str | None]:
        return {"tenant_id": caller.tenant_id}

    return router


@pytest.fixture
def reader() -> RecordingReader:
    return RecordingReader()


@pytest.fixture
async def http(reader: RecordingReader) -> AsyncIterator[httpx.AsyncClient]:
    app = create_http_app(usage_router(reader), probe_router(), service_key=KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://metering"
    ) as client:
        yield client


def signed(scope: ServiceScope, path: str, *, key: str = KEY, now: float | None = None) -> dict[str, str]:
    return {"Authorization": authorization(key, scope, "GET", path, time.time() if now is None else now)}


def assert_unauthenticated(response: httpx.Response) -> None:
    assert (response.status_code, response.headers["content-type"]) == (401, PROBLEM), response.text
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == SCHEME
    assert "tnt_" not in response.text


async def test_healthz_stays_open(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_a_call_without_an_assertion_is_401_and_reads_nothing(
    http: httpx.AsyncClient, reader: RecordingReader
) -> None:
    for path, params in (("/v1/usage", USAGE | {"tenant_id": "tnt_acme"}), ("/v1/probe/scope", {})):
        assert_unauthenticated(await http.get(path, params=params))
    # Refused before the query is looked at: bad parameters do not tell an outsider more.
    assert_unauthenticated(await http.get("/v1/usage", params={"grain": "fortnight"}))
    assert reader.tenants == []


async def test_a_bearer_token_or_the_raw_secret_is_no_assertion(http: httpx.AsyncClient) -> None:
    for header in (f"Bearer {KEY}", KEY, f"{SCHEME} {KEY}", f"{SCHEME} "):
        assert_unauthenticated(await http.get("/v1/probe/scope", headers={"Authorization": header}))


async def test_a_forged_assertion_is_401(http: httpx.AsyncClient, reader: RecordingReader) -> None:
    forged = signed(ACME, "/v1/usage", key="a-guessed-key-that-is-long-enough-0123456789")
    assert_unauthenticated(await http.get("/v1/usage", params=USAGE, headers=forged))
    # A real one for acme, its scope rewritten to globex's: the signature no longer holds.
    parts = sign(KEY, ACME, "GET", "/v1/usage", time.time()).split(".")
    parts[1] = sign(KEY, GLOBEX, "GET", "/v1/usage", time.time()).split(".")[1]
    tampered = {"Authorization": f"{SCHEME} {'.'.join(parts)}"}
    assert_unauthenticated(await http.get("/v1/usage", params=USAGE, headers=tampered))
    assert reader.tenants == []


async def test_an_expired_assertion_is_401(http: httpx.AsyncClient) -> None:
    stale = signed(ACME, "/v1/usage", now=time.time() - TTL_S - 60)
    response = await http.get("/v1/usage", params=USAGE, headers=stale)
    assert_unauthenticated(response)
    assert "expired" in response.json()["detail"]


async def test_an_assertion_for_another_path_is_401(http: httpx.AsyncClient) -> None:
    made_for_budgets = signed(ACME, "/v1/budgets")
    assert_unauthenticated(await http.get("/v1/usage", params=USAGE, headers=made_for_budgets))


async def test_the_tenant_read_is_the_asserted_one(http: httpx.AsyncClient, reader: RecordingReader) -> None:
    response = await http.get("/v1/usage", params=USAGE, headers=signed(ACME, "/v1/usage"))

    assert response.status_code == 200, response.text
    assert response.json()["tenant_id"] == "tnt_acme"
    assert reader.tenants == ["tnt_acme"]


async def test_a_tenant_id_other_than_the_asserted_one_is_403(
    http: httpx.AsyncClient, reader: RecordingReader
) -> None:
    for tenant_ids in (["tnt_globex"], ["tnt_acme", "tnt_globex"]):
        response = await http.get(
            "/v1/usage", params=USAGE | {"tenant_id": tenant_ids}, headers=signed(ACME, "/v1/usage")
        )
        assert (response.status_code, response.headers["content-type"]) == (403, PROBLEM)
        assert response.json()["code"] == "scope_mismatch"
    # The same tenant, still passed by an older gateway: answered.
    same = await http.get(
        "/v1/usage", params=USAGE | {"tenant_id": "tnt_acme"}, headers=signed(ACME, "/v1/usage")
    )
    assert same.status_code == 200
    assert reader.tenants == ["tnt_acme"]


async def test_the_fleet_scope_is_refused_on_a_tenants_route_and_takes_no_tenant_id(
    http: httpx.AsyncClient, reader: RecordingReader
) -> None:
    fleet = ServiceScope.fleet()
    usage = await http.get("/v1/usage", params=USAGE, headers=signed(fleet, "/v1/usage"))
    assert (usage.status_code, usage.json()["code"]) == (403, "scope_mismatch")
    assert reader.tenants == []

    scope = await http.get("/v1/probe/scope", headers=signed(fleet, "/v1/probe/scope"))
    assert scope.json() == {"tenant_id": None}
    narrowed = await http.get(
        "/v1/probe/scope", params={"tenant_id": "tnt_acme"}, headers=signed(fleet, "/v1/probe/scope")
    )
    assert narrowed.status_code == 403


async def test_a_tenant_scope_reads_as_that_tenant(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/probe/tenant", headers=signed(GLOBEX, "/v1/probe/tenant"))
    assert response.json() == {"tenant_id": "tnt_globex"}


def test_the_app_needs_a_service_key() -> None:
    with pytest.raises(TypeError):
        create_http_app(probe_router())  # type: ignore[call-arg]
