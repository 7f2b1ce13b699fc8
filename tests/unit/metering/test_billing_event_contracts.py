"""Billing events as CloudEvents 1.0: binary mode on NATS (ce- headers, Nats-Msg-Id = id) and
structured mode for webhooks, both read back by the CloudEvents Python SDK."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from cloudevents.core.bindings.http import HTTPMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat

from shared.events.metering import BudgetExhausted, RatedCharge, UsageRated

AT = datetime(2026, 1, 31, 23, 59, 58, 123456, tzinfo=UTC)


def exhausted(**changes: object) -> BudgetExhausted:
    fields: dict[str, object] = {
        "occurred_at": AT,
        "tenant_id": "tnt_a",
        "budget_id": "bud_prj a%1",  # a space and a percent sign: percent-encoded in headers
        "project_id": "prj_a",
        "period": "2026-01",
        "amount": Decimal("100.00"),
        "currency": "USD",
        "spend": Decimal("100.25"),
        "forecast_spend": Decimal("100.25"),
        "on_exhaustion": "stop",
    }
    return BudgetExhausted.model_validate(fields | changes)


def test_binary_mode_headers_are_read_by_the_sdk() -> None:
    event = exhausted()
    headers = event.headers(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert headers["Nats-Msg-Id"] == headers["ce-id"] == str(event.event_id)
    read = from_binary(HTTPMessage(headers, event.model_dump_json().encode()), JSONFormat())
    assert read.get_id() == str(event.event_id)
    assert read.get_type() == "metering.v1.budget.exhausted"
    assert read.get_source() == "/aifactory/metering"
    assert read.get_subject() == "bud_prj a%1"
    assert read.get_time() == AT
    assert read.get_datacontenttype() == "application/json"
    assert read.get_extension("tenantid") == "tnt_a"
    data = read.get_data()
    assert isinstance(data, dict)
    assert BudgetExhausted.model_validate(data) == event


def test_a_naive_time_is_taken_as_utc_and_written_with_a_z() -> None:
    event = exhausted(occurred_at=datetime(2026, 1, 2, 3, 4, 5))
    assert event.headers()["ce-time"] == "2026-01-02T03:04:05Z"
    read = from_binary(HTTPMessage(event.headers(), event.model_dump_json().encode()), JSONFormat())
    assert read.get_time() == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_structured_mode_carries_the_same_attributes_and_data() -> None:
    event = UsageRated(
        occurred_at=AT,
        tenant_id="tnt_a",
        source_kind="allocation",
        source_id="alc_1",
        period="2026-01",
        currency="EUR",
        charges=[
            RatedCharge(
                project_id="prj_a",
                meter="gpu_hours",
                gpu_model="H100",
                quantity=Decimal("0.5"),
                unit="GPU-hour",
                unit_price=Decimal("2.75"),
                amount=Decimal("1.375"),
            )
        ],
    )
    body = event.structured()
    envelope = json.loads(body)
    assert envelope["data"]["charges"][0]["amount"] == "1.375"  # decimals as strings: exact
    read = from_structured(HTTPMessage({"content-type": "application/cloudevents+json"}, body), JSONFormat())
    assert (read.get_id(), read.get_type(), read.get_subject()) == (
        str(event.event_id),
        "metering.v1.usage.rated",
        "alc_1",
    )
    assert read.get_time() == AT and read.get_extension("tenantid") == "tnt_a"
    assert UsageRated.model_validate(read.get_data()) == event
