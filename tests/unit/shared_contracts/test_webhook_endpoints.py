"""The webhook endpoint rule that the gateway and metering both apply (parity: tests/unit/pricing)."""

from __future__ import annotations

from shared.contracts.webhook_endpoints import BILLING_EVENT_TYPES, endpoint_problems

SECRET = "s" * 32


def test_an_acceptable_endpoint_has_no_problem() -> None:
    assert endpoint_problems("https://billing.example/hooks", SECRET, BILLING_EVENT_TYPES) == []


def test_every_problem_names_its_field() -> None:
    problems = endpoint_problems("ftp://x", "short", ["metering.v1.nope", "metering.v1.invoice.updated"])
    assert [problem.field for problem in problems] == ["url", "secret", "event_types", "event_types"]
    assert "http(s)" in problems[0].message and "16 to 200" in problems[1].message
    assert "'metering.v1.invoice.updated' is not a billing event type" in problems[2].message
    assert "'metering.v1.nope'" in problems[3].message


def test_draft_snapshots_are_not_offered_to_webhooks() -> None:
    assert "metering.v1.invoice.updated" not in BILLING_EVENT_TYPES
    assert "metering.v1.invoice.finalized" in BILLING_EVENT_TYPES
