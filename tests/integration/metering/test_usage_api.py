"""The internal usage API over HTTP: one tenant's usage grouped by project, GPU model and day, never
another tenant's; bad queries answered with problem+json naming what is wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from tests.integration.metering.gateway_auth import AsGateway
from tests.integration.metering.test_usage_pipeline import COUNTED, price_book
from tests.integration.metering.usage_harness import UsageHarness, start_harness, unique
from tests.unit.metering.usage.builders import inference, released, sample


@pytest.fixture
async def harness(nats_url: str, fresh_database: str) -> AsyncIterator[UsageHarness]:
    async for started in start_harness(nats_url, fresh_database):
        yield started


@pytest.fixture
async def http(harness: UsageHarness) -> AsyncIterator[httpx.AsyncClient]:
    await harness.host.http.wait_listening()
    base_url = f"http://127.0.0.1:{harness.host.http.port}"
    async with httpx.AsyncClient(base_url=base_url, auth=AsGateway()) as client:
        yield client


async def test_a_tenants_usage_by_project_gpu_model_and_day(
    harness: UsageHarness, http: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    acme, other = unique("acme"), unique("other")
    for tenant in (acme, other):
        await harness.set_up_tenant(tenant, price_book(tenant, now))
    at = now - timedelta(minutes=5)
    await harness.publish(
        sample(at, tenant_id=acme, project_id="vision", energy_j="100"),
        sample(at, tenant_id=acme, project_id="vision", energy_j="50", gpu_model="A100"),
        sample(at, tenant_id=acme, project_id="speech", energy_j="7"),
        inference(at, tenant_id=acme, project_id="speech", requests=4),
        released(3600, end=at, tenant_id=acme, project_id="vision", gpu_count=2),
        sample(at, tenant_id=other, project_id="vision", energy_j="999"),
    )
    assert await harness.wait_for(COUNTED, 3, acme, "gpu_utilization") == 3
    assert await harness.wait_for(COUNTED, 1, acme, "gpu_seconds") == 1
    assert await harness.wait_for(COUNTED, 1, other, "gpu_utilization") == 1
    day = at.date()

    response = await http.get(
        "/v1/usage",
        params={
            "tenant_id": acme,
            "start": day.isoformat(),
            "end": (day + timedelta(days=1)).isoformat(),
            "meter": ["energy_j", "gpu_seconds", "requests"],
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["tenant_id"], body["grain"], body["group_by"]) == (acme, "day", ["project", "gpu_model"])
    rows = {
        (r["project_id"], r["gpu_model"], r["meter"]): (Decimal(r["sum"]), r["count"], r["unit"])
        for r in body["rows"]
    }
    assert rows == {
        ("speech", "", "requests"): (Decimal(4), 1, "request"),
        ("speech", "H100", "energy_j"): (Decimal(7), 1, "J"),
        ("vision", "A100", "energy_j"): (Decimal(50), 1, "J"),
        ("vision", "H100", "energy_j"): (Decimal(100), 1, "J"),
        ("vision", "H100", "gpu_seconds"): (Decimal(7200), 1, "GPU-second"),
    }  # the other tenant's 999 J are nowhere
    assert {r["window_start"] for r in body["rows"]} == {f"{day.isoformat()}T00:00:00Z"}

    by_project = await http.get(
        "/v1/usage",
        params={"tenant_id": acme, "start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat(),
                "group_by": "project", "meter": "energy_j"},
    )  # fmt: skip
    assert [(r["project_id"], r["gpu_model"], r["sum"]) for r in by_project.json()["rows"]] == [
        ("speech", None, "7"),
        ("vision", None, "150"),
    ]


async def test_a_bad_query_is_a_problem_naming_each_parameter(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/v1/usage",
        params={
            "tenant_id": "acme",
            "start": "2026-11-02",
            "end": "2026-11-01",
            "grain": "week",
            "meter": "watts",
        },
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_usage_query"
    assert [(e["field"], e["in"]) for e in problem["errors"]] == [
        ("grain", "query"),
        ("meter", "query"),
        ("end", "query"),
    ]
    assert "unknown meter 'watts'" in problem["detail"]


async def test_a_query_without_a_tenant_is_refused(http: httpx.AsyncClient) -> None:
    # Signed for the operator's fleet view: usage answers for one tenant only.
    response = await http.get("/v1/usage", params={"start": "2026-11-01", "end": "2026-11-02"})

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "scope_mismatch"
