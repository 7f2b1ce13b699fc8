"""Usage queries and invoice / FOCUS downloads through the gateway, with the real metering service behind
it: allocations released on the bus are rated and rolled up by metering, then read through the gateway
for the caller's tenant only; bad input is problem+json."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from services.metering.exports.domain.focus_export import FOCUS_COLUMNS
from tests.integration.gateway import test_budgets_and_webhooks
from tests.integration.gateway.conftest import OPERATOR, Gateway, Tenant, bearer, eventually
from tests.integration.gateway.test_bad_input import assert_problem
from tests.unit.metering.builders import price_book_set
from tests.unit.metering.usage.builders import released

# Before the metering clock of the harness (2026-01-11), in the billing period 2026-01.
DAY_ONE = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
DAY_TWO = DAY_ONE + timedelta(days=1)
PERIOD = "2026-01"

gateway = test_budgets_and_webhooks.gateway  # the fixture: a gateway with the real metering behind it


async def billed_tenant(gateway: Gateway, name: str) -> Tenant:
    """A tenant with 2 + 1 GPU-hours of H100 on day one (vision, speech) and 4 on day two (vision),
    at 2.50 per GPU-hour: an invoice of 17.50."""
    tenant = await gateway.new_tenant(name)
    await gateway.publish(
        price_book_set(tenant.tenant_id, gpu_hour={"H100": "2.50"}, occurred_at=DAY_ONE - timedelta(days=7))
    )
    await gateway.publish(
        released(3600, end=DAY_ONE, tenant_id=tenant.tenant_id, project_id="vision", gpu_count=2)
    )
    await gateway.publish(released(3600, end=DAY_ONE, tenant_id=tenant.tenant_id, project_id="speech"))
    await gateway.publish(
        released(7200, end=DAY_TWO, tenant_id=tenant.tenant_id, project_id="vision", gpu_count=2)
    )
    return tenant


async def invoice_of(gateway: Gateway, tenant: Tenant, total: str) -> dict[str, object]:
    invoice_id = f"inv_{tenant.tenant_id}_{PERIOD}"
    response = await eventually(
        lambda: gateway.http.get(f"/v1/invoices/{invoice_id}", headers=bearer(tenant.admin_key)),
        lambda r: r.status_code == 200 and r.json()["total"] == total,
        timeout=20.0,
    )
    assert response.status_code == 200 and response.json()["total"] == total, response.text
    body: dict[str, object] = response.json()
    return body


def refused(response: httpx.Response, status: int, code: str) -> None:
    problem = assert_problem(response, status)
    assert problem["type"].endswith(f":{code}"), problem


def usage_params(**extra: object) -> dict[str, object]:
    return {"from": "2026-01-08", "to": "2026-01-10", "meter": "gpu_seconds"} | extra


async def test_usage_grouped_by_project_and_day_is_the_tenants_own(gateway: Gateway) -> None:
    acme = await billed_tenant(gateway, "acme")
    globex = await billed_tenant(gateway, "globex")
    viewer = await gateway.new_key(acme, "viewer")
    await invoice_of(gateway, acme, "17.50")  # every allocation is rated and rolled up

    response = await gateway.http.get(
        "/v1/usage", params=usage_params(group_by="project"), headers=bearer(viewer)
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["tenant_id"], body["grain"], body["group_by"]) == (acme.tenant_id, "day", ["project"])
    sums = {(row["window_start"][:10], row["project_id"]): Decimal(row["sum"]) for row in body["rows"]}
    assert sums == {
        ("2026-01-08", "vision"): Decimal(7200),
        ("2026-01-08", "speech"): Decimal(3600),
        ("2026-01-09", "vision"): Decimal(14400),
    }
    by_model = await gateway.http.get(
        "/v1/usage", params=usage_params(group_by="gpu_model", to="2026-01-09"), headers=bearer(viewer)
    )
    assert [(r["gpu_model"], r["project_id"], Decimal(r["sum"])) for r in by_model.json()["rows"]] == [
        ("H100", None, Decimal(10800))
    ]

    # Another tenant's usage: refused, never shown; the operator names the tenant.
    other = await gateway.http.get(
        "/v1/usage", params=usage_params(tenant_id=globex.tenant_id), headers=bearer(viewer)
    )
    refused(other, 404, "not-found")
    operator = await gateway.http.get(
        "/v1/usage", params=usage_params(tenant_id=globex.tenant_id, group_by="project"), headers=OPERATOR
    )
    assert operator.json()["tenant_id"] == globex.tenant_id and len(operator.json()["rows"]) == 3


async def test_bad_usage_queries_are_problems(gateway: Gateway) -> None:
    acme = await gateway.new_tenant("acme")
    key = bearer(acme.admin_key)

    bad_day = await gateway.http.get(
        "/v1/usage", params={"from": "2026-13-01", "to": "2026-01-10"}, headers=key
    )
    backwards = await gateway.http.get("/v1/usage", params=usage_params(to="2026-01-01"), headers=key)
    bad_meter = await gateway.http.get("/v1/usage", params=usage_params(meter="furlongs"), headers=key)
    no_tenant = await gateway.http.get("/v1/usage", params=usage_params(), headers=OPERATOR)

    refused(bad_day, 422, "invalid-input")
    refused(backwards, 422, "invalid-input")
    refused(bad_meter, 422, "invalid-input")
    assert [e["field"] for e in bad_meter.json()["errors"]] == ["meter"]
    refused(no_tenant, 422, "invalid-input")


async def test_an_invoice_downloads_as_json_and_csv(gateway: Gateway) -> None:
    acme = await billed_tenant(gateway, "acme")
    globex = await gateway.new_tenant("globex")
    shown = await invoice_of(gateway, acme, "17.50")
    path = f"/v1/invoices/{shown['invoice_id']}/export"

    as_json = await gateway.http.get(path, headers=bearer(acme.admin_key))
    as_csv = await gateway.http.get(path, params={"format": "csv"}, headers=bearer(acme.admin_key))

    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.headers["content-disposition"] == f'attachment; filename="{shown["invoice_id"]}.json"'
    document = json.loads(as_json.content)
    assert (document["invoice_id"], document["tenant_id"], document["total"]) == (
        shown["invoice_id"],
        acme.tenant_id,
        "17.50",
    )
    assert [(ln["project_id"], ln["quantity"], ln["amount"]) for ln in document["lines"]] == [
        ("speech", "1", "2.50"),
        ("vision", "6", "15.00"),
    ]
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["project_id"], r["amount"], r["invoice_total"]) for r in rows] == [
        ("speech", "2.50", "17.50"),
        ("vision", "15.00", "17.50"),
    ]

    other_tenant = await gateway.http.get(path, headers=bearer(globex.admin_key))
    unknown = await gateway.http.get("/v1/invoices/inv_nobody_2026-01/export", headers=bearer(acme.admin_key))
    bad_format = await gateway.http.get(path, params={"format": "xml"}, headers=bearer(acme.admin_key))
    refused(other_tenant, 404, "not-found")
    refused(unknown, 404, "not-found")
    refused(bad_format, 422, "invalid-input")


async def test_the_focus_export_downloads_one_row_per_invoice_line(gateway: Gateway) -> None:
    acme = await billed_tenant(gateway, "acme")
    globex = await gateway.new_tenant("globex")
    viewer = await gateway.new_key(acme, "viewer")
    await invoice_of(gateway, acme, "17.50")

    response = await gateway.http.get("/v1/focus", params={"period": PERIOD}, headers=bearer(viewer))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="focus_{acme.tenant_id}_{PERIOD}.csv"'
    )
    reader = csv.DictReader(io.StringIO(response.text))
    rows = list(reader)
    assert set(FOCUS_COLUMNS) <= set(reader.fieldnames or ())
    assert [(r["SubAccountId"], r["ConsumedQuantity"], r["BilledCost"]) for r in rows] == [
        ("speech", "1.0", "2.50"),
        ("vision", "6.0", "15.00"),
    ]
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("17.50")
    assert {(r["BillingAccountId"], r["BillingCurrency"], r["BillingPeriodStart"]) for r in rows} == {
        (acme.tenant_id, "USD", "2026-01-01T00:00:00Z")
    }

    other = await gateway.http.get(
        "/v1/focus", params={"period": PERIOD, "tenant_id": globex.tenant_id}, headers=bearer(viewer)
    )
    bad_period = await gateway.http.get("/v1/focus", params={"period": "2026-1"}, headers=bearer(viewer))
    empty = await gateway.http.get(
        "/v1/focus", params={"period": PERIOD, "tenant_id": globex.tenant_id}, headers=OPERATOR
    )
    refused(other, 404, "not-found")
    refused(bad_period, 422, "invalid-input")
    assert list(csv.DictReader(io.StringIO(empty.text))) == []
