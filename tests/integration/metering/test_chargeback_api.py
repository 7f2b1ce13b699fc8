"""Metering's internal chargeback API over HTTP: the operator's default idle mode and rates apply unless
the query asks otherwise; bad queries are problem+json naming the parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from tests.integration.metering.billing_events_harness import running_metering
from tests.integration.metering.gateway_auth import AsGateway

PROBLEM = "application/problem+json"


@pytest.fixture
async def http(nats_url: str, fresh_database: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = {"chargeback_rates": {"H100": Decimal("3.60")}, "chargeback_idle": "separate_line"}
    async with (
        running_metering(nats_url, fresh_database, **settings) as metering,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{metering.host.http.port}", auth=AsGateway()) as client,
    ):
        yield client


async def test_the_operators_idle_mode_is_the_default_and_a_query_may_choose(http: httpx.AsyncClient) -> None:
    default = await http.get("/v1/chargeback", params={"period": "2026-01"})
    shared = await http.get(
        "/v1/chargeback", params={"period": "2026-01", "idle": "shared", "tenant_id": "t1"}
    )

    assert default.status_code == 200, default.text
    assert default.json() == {
        "scope": "fleet",
        "period": "2026-01",
        "currency": "USD",
        "idle": "separate_line",
        "models": [],
        "lines": [],
        "unrated": [],
        "total": "0",
    }
    assert (shared.json()["scope"], shared.json()["tenant_id"], shared.json()["idle"]) == (
        "tenant",
        "t1",
        "shared",
    )


async def test_bad_chargeback_queries_are_problems_naming_the_parameter(http: httpx.AsyncClient) -> None:
    bad_period = await http.get("/v1/chargeback", params={"period": "2026-1"})
    bad_mode = await http.get("/v1/chargeback", params={"period": "2026-01", "idle": "evenly"})

    assert (bad_period.status_code, bad_period.headers["content-type"]) == (400, PROBLEM)
    assert bad_period.json()["errors"][0]["field"] == "period"
    assert (bad_mode.status_code, bad_mode.headers["content-type"]) == (422, PROBLEM)
    assert "idle" in str(bad_mode.json()["errors"])
