"""Budget and webhook use cases on in-memory stores: what they decide, keep and emit, and what they refuse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from pricing.meters import MeterName
from services.metering.budgets.app.ports import InvoiceReading
from services.metering.budgets.app.use_cases import budget_statuses, record_budget, track_invoice
from services.metering.budgets.domain.tracking import BudgetDefinition, PeriodState
from services.metering.domain.errors import CurrencyMismatch, TenantNotYetKnown
from services.metering.usage.app.rated_events import usage_batch_events
from services.metering.usage.domain.batch_rating import UsageCharge
from services.metering.webhooks.app.ports import AttemptResult, DeliveryRecord, DueDelivery, WebhookEndpoint
from services.metering.webhooks.app.use_cases import enqueue_billing_event, record_endpoint, record_outcome
from services.metering.webhooks.domain.pages import DeliveryKey
from services.metering.webhooks.domain.rules import DeliveryStatus, InvalidWebhook, RetryPolicy
from shared.events.base import Event
from shared.events.gateway import BudgetSet, WebhookEndpointSet
from shared.events.metering import (
    BudgetExhausted,
    BudgetRestored,
    BudgetThresholdCrossed,
    InvoiceLine,
    InvoiceUpdated,
    InvoiceVoided,
    UsageRated,
    WebhookDeliveryFailed,
)

NOW = datetime(2026, 1, 20, tzinfo=UTC)


@dataclass
class Outbox:
    events: list[Event] = field(default_factory=list)

    async def emit(self, event: Event) -> None:
        self.events.append(event)


@dataclass
class Budgets:
    currencies: dict[str, str] = field(default_factory=lambda: {"tnt_a": "USD"})
    definitions: dict[str, BudgetDefinition] = field(default_factory=dict)
    periods: dict[tuple[str, str], PeriodState] = field(default_factory=dict)
    invoices: dict[tuple[str, str], InvoiceReading] = field(default_factory=dict)

    async def tenant_currency(self, tenant_id: str) -> str | None:
        return self.currencies.get(tenant_id)

    async def save_budget(self, definition: BudgetDefinition) -> bool:
        kept = self.definitions.get(definition.budget_id)
        if kept is not None and kept.set_at > definition.set_at:
            return False
        self.definitions[definition.budget_id] = definition
        return True

    async def budgets_of(self, tenant_id: str, *, lock: bool) -> Sequence[BudgetDefinition]:
        return [d for d in self.definitions.values() if d.tenant_id == tenant_id]

    async def period_state(self, budget_id: str, period: str) -> PeriodState | None:
        return self.periods.get((budget_id, period))

    async def save_period_state(self, budget_id: str, period: str, state: PeriodState, at: datetime) -> None:
        self.periods[(budget_id, period)] = state

    async def invoice(self, tenant_id: str, period: str) -> InvoiceReading | None:
        return self.invoices.get((tenant_id, period))


def budget_set(
    amount: str, *, project_id: str | None = "prj_a", at: datetime = NOW, **fields: Any
) -> BudgetSet:
    values: dict[str, Any] = {
        "occurred_at": at,
        "tenant_id": "tnt_a",
        "budget_id": f"bud_{project_id or 'tnt_a'}",
        "project_id": project_id,
        "amount": Decimal(amount),
        "currency": "USD",
        "thresholds_percent": [Decimal(50), Decimal(100)],
        "hard_cap": True,
    }
    return BudgetSet.model_validate(values | fields)


def snapshot(
    total: str, lines: list[tuple[str, str]], at: datetime = NOW, currency: str = "USD"
) -> InvoiceUpdated:
    return InvoiceUpdated(
        occurred_at=at,
        tenant_id="tnt_a",
        invoice_id="inv_tnt_a_2026-01",
        period="2026-01",
        status="draft",
        currency=currency,
        lines=[
            InvoiceLine(
                project_id=project,
                meter="gpu_hours",
                quantity=Decimal(1),
                unit="GPU-hour",
                unit_price=Decimal(amount),
                amount=Decimal(amount),
            )
            for project, amount in lines
        ],
        total=Decimal(total),
    )


async def test_a_budget_for_an_unknown_tenant_waits_and_one_in_another_currency_is_refused() -> None:
    store, outbox = Budgets(currencies={}), Outbox()
    with pytest.raises(TenantNotYetKnown):
        await record_budget(store, outbox, budget_set("10"), NOW)
    store.currencies["tnt_a"] = "EUR"
    with pytest.raises(CurrencyMismatch):
        await record_budget(store, outbox, budget_set("10"), NOW)
    assert store.definitions == {} and outbox.events == []


async def test_snapshots_decide_each_budget_on_its_own_spend() -> None:
    store, outbox = Budgets(), Outbox()
    await record_budget(store, outbox, budget_set("10"), NOW)
    await record_budget(store, outbox, budget_set("100", project_id=None), NOW)
    assert outbox.events == []  # no invoice yet: nothing spent

    emitted = await track_invoice(store, outbox, snapshot("12", [("prj_a", "7"), ("prj_b", "5")]), NOW)
    assert emitted == 1
    (crossed,) = outbox.events
    assert isinstance(crossed, BudgetThresholdCrossed)
    assert (crossed.budget_id, crossed.spend, crossed.threshold_percent) == (
        "bud_prj_a",
        Decimal(7),
        Decimal(50),
    )

    await track_invoice(
        store, outbox, snapshot("60", [("prj_a", "10"), ("prj_b", "50")], NOW + timedelta(1)), NOW
    )
    kinds = [(type(e).__name__, e.budget_id) for e in outbox.events[1:]]  # type: ignore[attr-defined]
    assert kinds == [
        ("BudgetThresholdCrossed", "bud_prj_a"),
        ("BudgetExhausted", "bud_prj_a"),
        ("BudgetThresholdCrossed", "bud_tnt_a"),
    ]
    exhausted = outbox.events[2]
    assert isinstance(exhausted, BudgetExhausted) and exhausted.on_exhaustion == "continue"
    statuses = {s.definition.budget_id: s for s in await budget_statuses(store, "tnt_a", "2026-01", NOW)}
    assert statuses["bud_tnt_a"].spend == Decimal(60) and statuses["bud_prj_a"].state is not None


async def test_raising_a_budget_decides_again_on_the_saved_invoice() -> None:
    store, outbox = Budgets(), Outbox()
    await record_budget(store, outbox, budget_set("10"), NOW)
    await track_invoice(store, outbox, snapshot("12", [("prj_a", "12")]), NOW)
    store.invoices[("tnt_a", "2026-01")] = InvoiceReading("USD", Decimal(12), (("prj_a", Decimal(12)),), NOW)
    outbox.events.clear()

    await record_budget(
        store, outbox, budget_set("20", at=NOW + timedelta(hours=1)), NOW + timedelta(hours=1)
    )
    (restored,) = outbox.events
    assert isinstance(restored, BudgetRestored) and restored.amount == Decimal(20)
    # An older setting that arrives late changes nothing.
    await record_budget(store, outbox, budget_set("5", at=NOW - timedelta(hours=1)), NOW + timedelta(hours=2))
    assert store.definitions["bud_prj_a"].amount == Decimal(20) and len(outbox.events) == 1


async def test_a_budget_in_another_currency_than_the_invoice_is_not_tracked() -> None:
    store, outbox = Budgets(), Outbox()
    await record_budget(store, outbox, budget_set("10"), NOW)
    assert await track_invoice(store, outbox, snapshot("99", [("prj_a", "99")], currency="EUR"), NOW) == 0


@dataclass
class Webhooks:
    saved: dict[str, WebhookEndpoint] = field(default_factory=dict)
    queued: list[tuple[str, UUID, str, bytes]] = field(default_factory=list)
    attempts: list[tuple[int, int, DeliveryStatus, datetime | None]] = field(default_factory=list)

    async def save_endpoint(self, endpoint: WebhookEndpoint) -> bool:
        self.saved[endpoint.endpoint_id] = endpoint
        return True

    async def deactivate_endpoint(self, tenant_id: str, endpoint_id: str, at: datetime) -> bool:
        raise NotImplementedError

    async def subscribers(self, tenant_id: str) -> Sequence[WebhookEndpoint]:
        return [e for e in self.saved.values() if e.tenant_id == tenant_id and e.active]

    async def add_delivery(
        self, endpoint: WebhookEndpoint, event_id: UUID, event_type: str, body: bytes, at: datetime
    ) -> bool:
        self.queued.append((endpoint.endpoint_id, event_id, event_type, body))
        return True

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> Sequence[DueDelivery]:
        raise NotImplementedError

    async def record_attempt(
        self,
        delivery: DueDelivery,
        result: AttemptResult,
        at: datetime,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
    ) -> bool:
        if any(d == delivery.delivery_id and a == delivery.attempt for d, a, _, _ in self.attempts):
            return False
        self.attempts.append((delivery.delivery_id, delivery.attempt, status, next_attempt_at))
        return True

    async def endpoints(self, tenant_id: str) -> Sequence[WebhookEndpoint]:
        raise NotImplementedError

    async def deliveries(
        self, tenant_id: str, endpoint_id: str | None, limit: int, after: DeliveryKey | None = None
    ) -> Sequence[DeliveryRecord]:
        raise NotImplementedError


def endpoint_set(endpoint_id: str, event_types: list[str], **fields: Any) -> WebhookEndpointSet:
    values: dict[str, Any] = {
        "occurred_at": NOW,
        "tenant_id": "tnt_a",
        "endpoint_id": endpoint_id,
        "url": f"https://example.com/{endpoint_id}",
        "secret": "0123456789abcdef",
        "event_types": event_types,
    }
    return WebhookEndpointSet.model_validate(values | fields)


async def test_each_billing_event_is_queued_once_per_subscribed_endpoint() -> None:
    store = Webhooks()
    await record_endpoint(store, endpoint_set("all", []))
    await record_endpoint(store, endpoint_set("exhausted_only", [BudgetExhausted.TYPE]))
    with pytest.raises(InvalidWebhook, match="'metering.v1.invoice.updated' is not a billing event type"):
        await record_endpoint(store, endpoint_set("bad", ["metering.v1.invoice.updated"]))

    crossed = BudgetThresholdCrossed(
        occurred_at=NOW,
        tenant_id="tnt_a",
        budget_id="bud_a",
        period="2026-01",
        amount=Decimal(1),
        currency="USD",
        spend=Decimal(1),
        forecast_spend=Decimal(2),
        threshold_percent=Decimal(50),
    )
    assert await enqueue_billing_event(store, crossed, NOW) == 1
    assert [(endpoint, body) for endpoint, _, _, body in store.queued] == [("all", crossed.structured())]


async def test_a_voided_invoice_reaches_the_endpoints_subscribed_to_it() -> None:
    # An external billing system must learn that an invoice it booked was withdrawn.
    store = Webhooks()
    await record_endpoint(store, endpoint_set("voids", [InvoiceVoided.TYPE]))
    voided = InvoiceVoided(
        occurred_at=NOW, tenant_id="tnt_a", invoice_id="inv_tnt_a_2026-01", period="2026-01", status="void",
        currency="USD", lines=[], total=Decimal("12.50"), void_reason="wrong price book",
    )  # fmt: skip

    assert await enqueue_billing_event(store, voided, NOW) == 1
    assert [endpoint for endpoint, _, _, _ in store.queued] == ["voids"]


def due(attempt: int) -> DueDelivery:
    return DueDelivery(
        delivery_id=7,
        endpoint_id="whk_a",
        tenant_id="tnt_a",
        url="https://example.com/hook",
        secret="0123456789abcdef",
        event_id=uuid4(),
        event_type=BudgetExhausted.TYPE,
        body=b"{}",
        attempt=attempt,
    )


async def test_an_attempt_is_delivered_retried_with_backoff_or_given_up_and_announced() -> None:
    store, outbox = Webhooks(), Outbox()
    policy = RetryPolicy(max_attempts=3, base_delay_s=10, max_delay_s=100, jitter=0)
    refused = AttemptResult(500, "HTTP 500: boom", 3.0)

    assert await record_outcome(store, outbox, due(1), refused, NOW, policy, 0.5) is DeliveryStatus.PENDING
    assert await record_outcome(store, outbox, due(2), refused, NOW, policy, 0.5) is DeliveryStatus.PENDING
    assert [next_at for *_, next_at in store.attempts] == [
        NOW + timedelta(seconds=10),
        NOW + timedelta(seconds=20),
    ]
    assert outbox.events == []
    assert await record_outcome(store, outbox, due(3), refused, NOW, policy, 0.5) is DeliveryStatus.FAILED
    (gave_up,) = outbox.events
    assert isinstance(gave_up, WebhookDeliveryFailed)
    assert (gave_up.attempts, gave_up.last_error, gave_up.delivery_id) == (3, "HTTP 500: boom", 7)
    # The same attempt recorded twice (a lease ran out meanwhile) announces nothing twice.
    await record_outcome(store, outbox, due(3), refused, NOW, policy, 0.5)
    assert len(outbox.events) == 1

    delivered = replace(due(1), delivery_id=8)
    assert await record_outcome(
        store, outbox, delivered, AttemptResult(204, None, 1.0), NOW, policy, 0.5
    ) is (DeliveryStatus.DELIVERED)
    assert store.attempts[-1] == (8, 1, DeliveryStatus.DELIVERED, None)


async def test_a_rated_usage_batch_is_announced_once_per_tenant_and_period() -> None:
    def charge(tenant_id: str, period: str, meter: MeterName, base: str, price: str) -> UsageCharge:
        return UsageCharge(tenant_id, period, period, NOW, "prj_a", meter, Decimal(price), Decimal(base), NOW)

    charges = [
        charge("tnt_a", "2026-01", MeterName.TOKENS_1K, "1500", "0.02"),
        charge("tnt_a", "2026-01", MeterName.ENERGY_KWH, "1800000", "0.30"),  # 0.5 kWh
        charge("tnt_b", "2026-01", MeterName.REQUESTS, "3", "0.001"),
    ]
    emitted = usage_batch_events(charges, {"tnt_a": "EUR", "tnt_b": "USD"}, "batch-1", NOW)
    assert len(emitted) == 2
    first, second = emitted
    assert isinstance(first, UsageRated) and isinstance(second, UsageRated)
    assert (first.tenant_id, first.currency, first.source_kind, first.source_id) == (
        "tnt_a",
        "EUR",
        "usage_batch",
        "batch-1",
    )
    assert [(c.meter, c.quantity, c.amount) for c in first.charges] == [
        ("tokens_1k", Decimal("1.5"), Decimal("0.030")),
        ("energy_kwh", Decimal("0.5"), Decimal("0.150")),
    ]
    assert [(c.meter, c.amount) for c in second.charges] == [("requests", Decimal("0.003"))]
