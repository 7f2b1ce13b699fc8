"""Billing events end to end on the real nats-server and PostgreSQL: budgets set as the gateway sets
them, tracked on metering's invoices, announced as CloudEvents (binary mode) that the CloudEvents SDK
reads; usage rated announced the same way; and webhooks signed, retried with backoff, and logged."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat
from nats.aio.msg import Msg

from services.metering.webhooks.domain.rules import verify_signature
from shared.events.gateway import BudgetSet, WebhookEndpointSet
from shared.events.metering import (
    BudgetExhausted,
    BudgetRestored,
    BudgetThresholdCrossed,
    UsageRated,
    WebhookDeliveryFailed,
)
from tests.integration.metering.billing_events_harness import (
    Metering,
    WebhookReceiver,
    eventually,
    of_type,
    running_metering,
)
from tests.integration.metering.gateway_auth import AsGateway
from tests.unit.metering.builders import T0, allocation_released

SECRET = "whsec_integration-test-secret"
BUDGET_TYPES = (BudgetThresholdCrossed.TYPE, BudgetExhausted.TYPE, BudgetRestored.TYPE)


@pytest.fixture
async def metering(nats_url: str, fresh_database: str) -> AsyncIterator[Metering]:
    async with running_metering(nats_url, fresh_database) as running:
        yield running


@pytest.fixture
def receivers() -> Iterator[Callable[[list[int]], WebhookReceiver]]:
    """Start local webhook receivers, each answering with its planned statuses; stopped at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda statuses: stack.enter_context(WebhookReceiver(statuses))


def budget_set(tenant: str, amount: str, **fields: Any) -> BudgetSet:
    values: dict[str, Any] = {
        "occurred_at": T0 + timedelta(hours=2),
        "tenant_id": tenant,
        "budget_id": "bud_prj_1",
        "project_id": "prj_1",
        "amount": Decimal(amount),
        "currency": "USD",
        "thresholds_percent": [Decimal(50), Decimal(80), Decimal(100)],
        "hard_cap": True,
        "on_exhaustion": "stop",
    }
    return BudgetSet.model_validate(values | fields)


def read_with_sdk(message: Msg) -> Any:
    """What a subscriber using the CloudEvents SDK gets from a NATS message (binary content mode)."""
    headers = dict(message.headers or {})
    event = from_binary(HTTPMessage(headers, message.data), JSONFormat())
    assert event.get_id() == headers["Nats-Msg-Id"], "JetStream de-duplicates on the CloudEvents id"
    assert event.get_source() == "/aifactory/metering" and event.get_specversion() == "1.0"
    return event


async def test_budget_thresholds_exhaustion_and_restoration_are_cloudevents_the_sdk_reads(
    metering: Metering,
) -> None:
    t = metering.tenant
    await metering.set_up_tenant({"H100": "10.00"})
    await metering.publish(budget_set(t, "20"))
    await metering.wait_for_row("SELECT count(*) FROM budgets WHERE budget_id = 'bud_prj_1'")

    # One GPU-hour at 10.00: half of the budget.
    await metering.publish(allocation_released(3600, tenant_id=t, project_id="prj_1"))
    first = await metering.messages(lambda ms: len(of_type(ms, BudgetThresholdCrossed.TYPE)) == 1)
    # Two more hours: 30.00 of 20.00, every threshold and the hard cap.
    later = T0 + timedelta(hours=1)
    await metering.publish(allocation_released(7200, tenant_id=t, project_id="prj_1", bound_at=later))
    await metering.messages(lambda ms: len(of_type(ms, BudgetExhausted.TYPE)) == 1)
    # Raised to 50.00 (30 is 60 %): open again, and 80 % and 100 % armed again.
    await metering.publish(budget_set(t, "50", occurred_at=T0 + timedelta(hours=5)))
    messages = await metering.messages(lambda ms: len(of_type(ms, BudgetRestored.TYPE)) == 1)

    announced = [read_with_sdk(m) for m in messages if m.headers and m.headers["ce-type"] in BUDGET_TYPES]
    summary = [
        (e.get_type().rsplit(".", 1)[1], e.get_data().get("threshold_percent"), e.get_data()["spend"])
        for e in announced
    ]
    assert summary == [
        ("threshold_crossed", "50", "10.00"),
        ("threshold_crossed", "80", "30.00"),
        ("threshold_crossed", "100", "30.00"),
        ("exhausted", None, "30.00"),
        ("restored", None, "30.00"),
    ]
    exhausted = BudgetExhausted.model_validate(announced[3].get_data())
    assert (exhausted.on_exhaustion, exhausted.amount, exhausted.period, exhausted.project_id) == (
        "stop",
        Decimal("20"),
        "2026-01",
        "prj_1",
    )
    assert all(e.get_subject() == "bud_prj_1" and e.get_extension("tenantid") == t for e in announced)
    # The forecast extrapolates the burn rate: 10.00 after 10.5 days of January's 31 days.
    assert Decimal(announced[0].get_data()["forecast_spend"]) > Decimal("10.00")
    assert len(first) >= 1

    status = await metering.api("/v1/budgets", tenant_id=t)
    (budget,) = status["items"]
    assert status["period"] == "2026-01"
    assert (budget["amount"], budget["spend"], budget["exhausted"], budget["thresholds_crossed"]) == (
        "50",
        "30.00",
        False,
        ["50"],
    )
    assert Decimal(budget["forecast_spend"]) > Decimal("30.00")
    base_url = f"http://127.0.0.1:{metering.host.http.port}"
    async with httpx.AsyncClient(base_url=base_url, auth=AsGateway()) as client:
        refused = await client.get("/v1/budgets", params={"tenant_id": t, "period": "2026-13"})
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "invalid_period"


async def test_usage_rated_is_announced_for_each_billed_allocation(metering: Metering) -> None:
    t = metering.tenant
    await metering.set_up_tenant({"H100": "2.75"})
    released = allocation_released(1800, tenant_id=t, project_id="prj_1", gpu_count=2)
    await metering.publish(released)
    messages = await metering.messages(lambda ms: len(of_type(ms, UsageRated.TYPE)) == 1)

    event = read_with_sdk(of_type(messages, UsageRated.TYPE)[0])
    rated = UsageRated.model_validate(event.get_data())
    assert event.get_subject() == released.allocation_id
    assert (rated.tenant_id, rated.source_kind, rated.period, rated.currency) == (
        t,
        "allocation",
        "2026-01",
        "USD",
    )
    (charge,) = rated.charges
    # 2 GPUs x 1800 s = 1 GPU-hour at 2.75.
    assert (charge.meter, charge.gpu_model, charge.quantity, charge.unit_price, charge.amount) == (
        "gpu_hours",
        "H100",
        Decimal(1),
        Decimal("2.75"),
        Decimal("2.75"),
    )


async def test_webhooks_are_signed_retried_with_backoff_and_logged(
    metering: Metering, receivers: Callable[[list[int]], WebhookReceiver]
) -> None:
    t = metering.tenant
    flaky = receivers([500, 200])  # fails once, then takes it
    down = receivers([503])  # never takes it
    await metering.set_up_tenant({"H100": "2.00"})
    flaky_endpoint = WebhookEndpointSet(
        occurred_at=T0,
        tenant_id=t,
        endpoint_id="whk_flaky",
        url=flaky.url,
        secret=SECRET,
        event_types=[UsageRated.TYPE],
    )
    down_endpoint = WebhookEndpointSet(
        occurred_at=T0,
        tenant_id=t,
        endpoint_id="whk_down",
        url=down.url,
        secret=SECRET + "-2",
        event_types=[],
    )
    await metering.publish(flaky_endpoint, down_endpoint)
    await metering.wait_for_row("SELECT count(*) = 2 FROM webhook_endpoints")

    await metering.publish(allocation_released(3600, tenant_id=t, project_id="prj_1"))

    await eventually(lambda: _count(flaky), lambda n: n == 2)
    first, second = flaky.requests
    assert first.body == second.body  # the same delivery, tried again
    now = int(metering.host.clock.now().timestamp())  # metering signs with its own clock's time
    for request in (first, second):
        assert request.headers["Content-Type"] == "application/cloudevents+json"
        assert verify_signature(SECRET, request.headers["Webhook-Signature"], request.body, now)
        assert not verify_signature(SECRET + "-2", request.headers["Webhook-Signature"], request.body, now)
    event = from_structured(
        HTTPMessage({"content-type": "application/cloudevents+json"}, second.body), JSONFormat()
    )
    assert event.get_type() == UsageRated.TYPE and event.get_id() == second.headers["Webhook-Id"]
    assert UsageRated.model_validate(event.get_data()).charges[0].amount == Decimal(2)

    log = await eventually(
        lambda: metering.api("/v1/webhooks/deliveries", tenant_id=t, endpoint_id="whk_flaky"),
        lambda body: body["items"] and body["items"][0]["status"] == "delivered",
    )
    (delivery,) = log["items"]
    failed, delivered = delivery["attempt_log"]
    assert (delivery["attempts"], delivery["event_type"], delivery["event_id"]) == (
        2,
        UsageRated.TYPE,
        event.get_id(),
    )
    assert (failed["attempt"], failed["status_code"], delivered["attempt"], delivered["status_code"]) == (
        1,
        500,
        2,
        200,
    )
    assert failed["next_retry_at"] is not None and delivered["next_retry_at"] is None
    assert failed["error"] == "HTTP 500: Internal Server Error" and delivered["error"] is None
    assert failed["attempted_at"] < delivered["attempted_at"]

    # The endpoint that never answers 2xx is given up on after the last attempt (max 8 by default:
    # this service's backoff is short), and that is announced.
    messages = await metering.messages(
        lambda ms: len(of_type(ms, WebhookDeliveryFailed.TYPE)) == 1, timeout=30
    )
    gave_up = WebhookDeliveryFailed.model_validate_json(of_type(messages, WebhookDeliveryFailed.TYPE)[0].data)
    assert (gave_up.endpoint_id, gave_up.attempts, gave_up.delivered_event_type) == (
        "whk_down",
        8,
        UsageRated.TYPE,
    )
    assert len(down.requests) == 8 and gave_up.last_error == "HTTP 503: Service Unavailable"
    down_log = await metering.api("/v1/webhooks/deliveries", tenant_id=t, endpoint_id="whk_down")
    statuses = {item["status"] for item in down_log["items"]}
    assert "failed" in statuses
    endpoints = await metering.api("/v1/webhooks", tenant_id=t)
    assert {e["endpoint_id"] for e in endpoints["items"]} == {"whk_flaky", "whk_down"}
    assert "secret" not in json.dumps(endpoints)


async def _count(receiver: WebhookReceiver) -> int:
    return len(receiver.requests)
