"""The billing engine live, through the gateway's HTTP API with the real metering service behind it: a
price book with tiered (graduated and volume) and package plans; a spend commitment whose shortfall is
billed; prepaid credit drawn down across two periods; late usage of a finalized month as adjustment
lines; a finalized invoice voided and its replacement draft; the exports and the rebuild agree.

The gateway's clock stands at 2025-12-10 (so its price books are in effect for December and January);
metering's at 2026-01-11 (it accepts usage back to early December).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.metering.rebuild import rebuild_reports
from shared.events.base import Event
from tests.integration.gateway.conftest import OPERATOR, Gateway, Tenant, bearer, eventually
from tests.integration.gateway.test_budgets_and_webhooks import gateway_with_metering
from tests.integration.metering.billing_events_harness import ShiftedClock
from tests.unit.metering.usage.builders import inference, released

DECEMBER, JANUARY = "2025-12", "2026-01"
IN_JANUARY = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
IN_DECEMBER = datetime(2025, 12, 20, 12, 0, tzinfo=UTC)
HOUR = 3600


@pytest.fixture
async def gateway(nats_url: str, fresh_database: str) -> AsyncIterator[Gateway]:
    clock = ShiftedClock(datetime(2025, 12, 10, tzinfo=UTC))
    async with gateway_with_metering(nats_url, fresh_database, clock) as running:
        yield running


async def priced_tenant(gateway: Gateway, name: str, book: dict[str, Any]) -> Tenant:
    """A tenant whose price book (set through the gateway) metering has recorded."""
    tenant = await gateway.new_tenant(name)
    response = await gateway.http.put(
        f"/v1/tenants/{tenant.tenant_id}/price-book", json=book, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    recorded = await eventually(
        lambda: gateway.count(
            "SELECT count(*) FROM metering.price_books WHERE tenant_id = $1", tenant.tenant_id
        ),
        lambda count: count == 1,
    )
    assert recorded == 1
    return tenant


async def publish(gateway: Gateway, *events: Event) -> None:
    for event in events:
        await gateway.publish(event)


async def invoice_when(gateway: Gateway, tenant: Tenant, invoice_id: str, accept: Any) -> dict[str, Any]:
    response = await eventually(
        lambda: gateway.http.get(f"/v1/invoices/{invoice_id}", headers=bearer(tenant.admin_key)),
        lambda r: r.status_code == 200 and accept(r.json()),
        timeout=30.0,
    )
    assert response.status_code == 200 and accept(response.json()), response.text
    body: dict[str, Any] = response.json()
    return body


def amounts(invoice: dict[str, Any]) -> list[tuple[str | None, ...]]:
    """(kind, project, meter, GPU model, adjusted period, amount) of each line."""
    fields = ("kind", "project_id", "usage_meter", "gpu_model", "adjusts_period", "amount")
    return [tuple(line[field] for field in fields) for line in invoice["lines"]]


async def rebuilt_totals(gateway: Gateway, tenant: Tenant, period: str) -> tuple[bool, Decimal, Decimal]:
    database_url = gateway.service.settings.database_url
    (report,) = await rebuild_reports(database_url, tenant.tenant_id, [period], rollups=False)
    return report.matches, report.rebuild.kept.total, report.rebuild.rebuilt.total


TIERED_AND_PACKAGE = {
    "plans": [
        {
            "meter": "gpu_hours",
            "gpu_model": "H100",
            "kind": "tiered",
            "mode": "graduated",
            "tiers": [{"up_to": "2", "unit_price": "3.00", "flat_fee": "1.00"}, {"unit_price": "2.00"}],
        },
        {
            "meter": "gpu_hours",
            "gpu_model": "A100",
            "kind": "tiered",
            "mode": "volume",
            "tiers": [{"up_to": "10", "unit_price": "1.50"}, {"unit_price": "1.00", "flat_fee": "5.00"}],
        },
        {"meter": "requests", "kind": "package", "block_size": "100", "block_price": "5.00"},
    ]
}


async def test_tiered_and_package_plans_price_the_invoice_and_its_exports(gateway: Gateway) -> None:
    tenant = await priced_tenant(gateway, "acme", TIERED_AND_PACKAGE)
    t = tenant.tenant_id
    await publish(
        gateway,
        released(3 * HOUR, end=IN_JANUARY, tenant_id=t, project_id="vision"),
        released(1 * HOUR, end=IN_JANUARY, tenant_id=t, project_id="speech"),
        released(3 * HOUR, end=IN_JANUARY, tenant_id=t, project_id="vision", gpu_model="A100", gpu_count=4),
        inference(IN_JANUARY, tenant_id=t, project_id="speech", requests=150),
    )

    # H100, graduated over the tenant's 4 GPU-hours: 2 x 3.00 + 1.00 (the tier's flat fee) + 2 x 2.00 =
    # 11.00, split 3:1 between the projects. A100, volume: 12 GPU-hours all in the second tier, 12 x 1.00
    # + 5.00. Requests: 150 in packages of 100, two packages at 5.00.
    invoice = await invoice_when(gateway, tenant, f"inv_{t}_{JANUARY}", lambda i: i["total"] == "38.00")

    assert amounts(invoice) == [
        ("usage", "speech", "gpu_hours", "H100", None, "2.75"),
        ("usage", "speech", "requests", None, None, "10.00"),
        ("usage", "vision", "gpu_hours", "A100", None, "17.00"),
        ("usage", "vision", "gpu_hours", "H100", None, "8.25"),
    ]
    exported = await gateway.http.get(
        f"/v1/invoices/{invoice['invoice_id']}/export",
        params={"format": "csv"},
        headers=bearer(tenant.admin_key),
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(row["kind"], row["amount"]) for row in rows] == [
        ("usage", line[-1]) for line in amounts(invoice)
    ]
    assert {row["invoice_total"] for row in rows} == {"38.00"}
    assert await rebuilt_totals(gateway, tenant, JANUARY) == (True, Decimal("38.00"), Decimal("38.00"))


SPEND_COMMITMENT = {
    "gpu_hour": {"H100": "2.00"},
    "commitments": [{"commitment_id": "c-spend", "kind": "spend", "committed": "10.00", "discount": "0.2"}],
}


async def test_commitment_credit_adjustments_and_void_through_the_gateway(gateway: Gateway) -> None:
    tenant = await priced_tenant(gateway, "initech", SPEND_COMMITMENT)
    t = tenant.tenant_id
    granted = await gateway.http.post(
        f"/v1/tenants/{t}/credits", json={"amount": "15.00", "note": "welcome"}, headers=OPERATOR
    )
    assert granted.status_code == 202, granted.text
    assert (granted.json()["amount"], granted.json()["currency"]) == ("15.00", "USD")

    # 1. December: 2 GPU-hours at 2.00, 20 % off = 3.20; the commitment's 10.00 leaves a 6.80 shortfall;
    #    the credit pays the 10.00 subtotal.
    await publish(gateway, released(2 * HOUR, end=IN_DECEMBER, tenant_id=t, project_id="vision"))
    december = await invoice_when(
        gateway,
        tenant,
        f"inv_{t}_{DECEMBER}",
        lambda i: i["total"] == "0.00" and i["credit_applied"] == "10.00",
    )
    assert amounts(december) == [
        ("usage", "vision", "gpu_hours", "H100", None, "3.20"),
        ("commitment_shortfall", None, None, None, None, "6.80"),
        ("prepaid_credit", None, None, None, None, "-10.00"),
    ]
    assert december["subtotal"] == "10.00"
    finalize = await gateway.http.post(
        "/v1/invoices/finalize", json={"tenant_id": t, "period": DECEMBER}, headers=OPERATOR
    )
    assert finalize.status_code == 202, finalize.text
    await invoice_when(gateway, tenant, december["invoice_id"], lambda i: i["status"] == "finalized")

    # 2. January: 8 GPU-hours (12.80 after the discount, above the commitment: no shortfall), and one late
    #    December GPU-hour, an adjustment: +1.60 of usage, and 1.60 less December shortfall. What is left
    #    of the credit (5.00) is drawn down.
    await publish(
        gateway,
        released(8 * HOUR, end=IN_JANUARY, tenant_id=t, project_id="vision"),
        released(1 * HOUR, end=IN_DECEMBER + timedelta(days=8), tenant_id=t, project_id="vision"),
    )
    january = await invoice_when(
        gateway,
        tenant,
        f"inv_{t}_{JANUARY}",
        lambda i: any(line["kind"] == "adjustment" for line in i["lines"]),
    )
    assert amounts(january) == [
        ("usage", "vision", "gpu_hours", "H100", None, "12.80"),
        ("adjustment", "vision", "gpu_hours", "H100", DECEMBER, "1.60"),
        ("adjustment", None, None, None, DECEMBER, "-1.60"),  # the December shortfall, smaller
        ("prepaid_credit", None, None, None, None, "-5.00"),
    ]
    assert (january["subtotal"], january["credit_applied"], january["total"]) == ("12.80", "5.00", "7.80")
    exported = await gateway.http.get(
        f"/v1/invoices/{january['invoice_id']}/export", headers=bearer(tenant.admin_key)
    )
    document = exported.json()
    assert [line["kind"] for line in document["lines"]] == [
        "usage",
        "adjustment",
        "adjustment",
        "prepaid_credit",
    ]
    assert (document["credit_opening"], document["credit_remaining"]) == ("5.00", "0.00")
    focus = await gateway.http.get("/v1/focus", params={"period": JANUARY}, headers=bearer(tenant.admin_key))
    categories = [row["ChargeCategory"] for row in csv.DictReader(io.StringIO(focus.text))]
    assert categories == ["Usage", "Usage", "Adjustment", "Credit"]
    assert await rebuilt_totals(gateway, tenant, JANUARY) == (True, Decimal("7.80"), Decimal("7.80"))

    # 3. December voided: kept as void, a replacement draft (revision 2) takes its place with its credit back.
    voided = await gateway.http.post(
        f"/v1/invoices/{december['invoice_id']}/void", json={"reason": "wrong commitment"}, headers=OPERATOR
    )
    assert voided.status_code == 202, voided.text
    void = await invoice_when(gateway, tenant, december["invoice_id"], lambda i: i["status"] == "void")
    assert (void["void_reason"], void["total"], void["credit_applied"]) == (
        "wrong commitment",
        "0.00",
        "10.00",
    )
    replacement = await invoice_when(
        gateway, tenant, f"{december['invoice_id']}_r2", lambda i: i["revision"] == 2
    )
    assert (replacement["status"], replacement["replaces"]) == ("draft", december["invoice_id"])
    assert (replacement["subtotal"], replacement["credit_applied"]) == ("10.00", "10.00")
    again = await gateway.http.post(
        f"/v1/invoices/{december['invoice_id']}/void", json={"reason": "twice"}, headers=OPERATOR
    )
    assert again.status_code == 409, again.text


async def test_a_void_or_credit_is_the_operators_and_checked(gateway: Gateway) -> None:
    tenant = await priced_tenant(gateway, "globex", SPEND_COMMITMENT)
    t = tenant.tenant_id
    by_tenant = await gateway.http.post(
        f"/v1/tenants/{t}/credits", json={"amount": "5"}, headers=bearer(tenant.admin_key)
    )
    assert by_tenant.status_code == 403, by_tenant.text
    zero = await gateway.http.post(f"/v1/tenants/{t}/credits", json={"amount": "0"}, headers=OPERATOR)
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"] == "amount", zero.text
    unknown = await gateway.http.post("/v1/invoices/inv_nope/void", json={"reason": "x"}, headers=OPERATOR)
    assert unknown.status_code == 404, unknown.text
    await publish(gateway, released(HOUR, end=IN_JANUARY, tenant_id=t, project_id="vision"))
    draft = await invoice_when(gateway, tenant, f"inv_{t}_{JANUARY}", lambda i: i["status"] == "draft")
    refused = await gateway.http.post(
        f"/v1/invoices/{draft['invoice_id']}/void", json={"reason": "x"}, headers=OPERATOR
    )
    assert refused.status_code == 409 and "only a finalized invoice" in refused.json()["detail"], refused.text


def field_errors(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json", (
        response.text
    )
    return {error["field"]: error["message"] for error in response.json()["errors"]}


async def test_a_price_book_with_wrong_plans_is_refused_saying_what_is_wrong(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant("hooli")
    path = f"/v1/tenants/{tenant.tenant_id}/price-book"
    book = {
        "plans": [
            {
                "meter": "gpu_hours",
                "kind": "tiered",
                "tiers": [
                    {"up_to": "10", "unit_price": "1"},
                    {"up_to": "5", "unit_price": "1"},
                    {"unit_price": "-1"},
                ],
            },
            {"meter": "requests", "kind": "package", "block_size": "0", "block_price": "5"},
        ],
        "commitments": [
            {"commitment_id": "a", "kind": "spend", "committed": "10", "discount": "1.5"},
            {"commitment_id": "b", "kind": "quantity", "committed": "5", "unit_price": "1"},
        ],
        "effective_from": "2020-01-01T00:00:00Z",
    }

    errors = field_errors(await gateway.http.put(path, json=book, headers=OPERATOR))

    assert errors.pop("effective_from").startswith("must not be in the past")
    assert errors == {
        "plans[0].gpu_model": "a gpu_hours plan needs a GPU model; other meters have none",
        "plans[0].tiers[1].up_to": "must be above 10, not 5",
        "plans[0].tiers[2].unit_price": "must be a finite amount of 0 or more, not -1",
        "plans[1].block_size": "must be a positive quantity, not 0",
        "commitments[0].discount": "must be a fraction from 0 to 1, not 1.5",
        "commitments[1].meter": "a quantity commitment needs a meter",
        "commitments[1]": "covers the same usage as commitments[0] (a)",
    }
    unknown_kind = {"plans": [{"meter": "gpu_hours", "gpu_model": "H100", "kind": "weird"}]}
    assert any(
        "kind" in field
        for field in field_errors(await gateway.http.put(path, json=unknown_kind, headers=OPERATOR))
    )
    no_offset = {"effective_from": "2099-01-01T00:00:00"}  # which instant? it cannot say
    assert any(
        "effective_from" in field and "timezone" in message
        for field, message in field_errors(
            await gateway.http.put(path, json=no_offset, headers=OPERATOR)
        ).items()
    )
    fixed = {"plans": [{"meter": "requests", "kind": "package", "block_size": "100", "block_price": "5"}]}
    accepted = await gateway.http.put(path, json=fixed, headers=OPERATOR)
    assert accepted.status_code == 200 and accepted.json()["plans"][0]["block_size"] == "100", accepted.text
