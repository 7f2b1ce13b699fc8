"""Webhook use cases: keep tenants' endpoints, queue a delivery of each billing event to each endpoint
that subscribed to it, sign and send deliveries, and log every attempt (rules in domain/rules.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.metering.platform.outbox import EventOutbox
from services.metering.webhooks.app.ports import AttemptResult, DueDelivery, WebhookEndpoint, WebhookStore
from services.metering.webhooks.domain.rules import (
    SIGNATURE_HEADER,
    DeliveryStatus,
    InvalidWebhook,
    RetryPolicy,
    WebhookLimits,
    endpoint_cap_refusal,
    is_delivered,
    signature_header,
    subscribes,
)
from shared.contracts.webhook_endpoints import endpoint_problems
from shared.events.base import CE_STRUCTURED_CONTENT_TYPE, Event
from shared.events.gateway import WebhookEndpointRemoved, WebhookEndpointSet
from shared.events.metering import WebhookDeliveryFailed

USER_AGENT = "aifactory-webhooks/1"
DEFAULT_LIMITS = WebhookLimits()


async def record_endpoint(
    store: WebhookStore, event: WebhookEndpointSet, limits: WebhookLimits = DEFAULT_LIMITS
) -> None:
    """Keep the endpoint, unless the shared rule or the tenant's cap refuses it (InvalidWebhook: the
    consumer dead-letters the event with the reason). The gateway cannot know the cap, as it holds no
    endpoints: the refusal happens here. Where deliveries may go is checked at each delivery."""
    problems = endpoint_problems(event.url, event.secret, event.event_types)
    if problems:
        raise InvalidWebhook(f"webhook endpoint {event.endpoint_id}: " + "; ".join(map(str, problems)))
    # The store holds the tenant's endpoints steady until this transaction ends: count and save are one.
    active = [endpoint.endpoint_id for endpoint in await store.subscribers(event.tenant_id)]
    if refusal := endpoint_cap_refusal(active, event.endpoint_id, limits.max_endpoints_per_tenant):
        raise InvalidWebhook(f"webhook endpoint {event.endpoint_id}: {refusal}")
    endpoint = WebhookEndpoint(
        endpoint_id=event.endpoint_id,
        tenant_id=event.tenant_id,
        url=event.url,
        secret=event.secret,
        event_types=tuple(sorted(set(event.event_types))),
        active=True,
        set_at=event.occurred_at,
    )
    await store.save_endpoint(endpoint)  # unless a later setting is kept already


async def remove_endpoint(store: WebhookStore, event: WebhookEndpointRemoved) -> None:
    await store.deactivate_endpoint(event.tenant_id, event.endpoint_id, event.occurred_at)


async def enqueue_billing_event(store: WebhookStore, event: Event, now: datetime) -> int:
    """A pending delivery of the event to each of its tenant's endpoints that subscribed to its type."""
    if event.tenant_id is None:
        return 0
    body = event.structured()
    queued = 0
    for endpoint in await store.subscribers(event.tenant_id):
        if subscribes(endpoint.event_types, event.TYPE) and await store.add_delivery(
            endpoint, event.event_id, event.TYPE, body, now
        ):
            queued += 1
    return queued


def delivery_headers(delivery: DueDelivery, timestamp: int) -> dict[str, str]:
    """Signed afresh at each attempt, over the exact body sent."""
    return {
        "Content-Type": CE_STRUCTURED_CONTENT_TYPE,
        "Webhook-Id": str(delivery.event_id),
        SIGNATURE_HEADER: signature_header(delivery.secret, timestamp, delivery.body),
        "User-Agent": USER_AGENT,
    }


async def record_outcome(
    store: WebhookStore,
    outbox: EventOutbox,
    delivery: DueDelivery,
    result: AttemptResult,
    now: datetime,
    policy: RetryPolicy,
    random_fraction: float,
) -> DeliveryStatus:
    """Log the attempt; schedule the next one with backoff, or give up after the last (announced)."""
    next_attempt_at = None
    if is_delivered(result.status_code):
        status = DeliveryStatus.DELIVERED
    else:
        delay_s = policy.delay_after(delivery.attempt, random_fraction)
        status = DeliveryStatus.FAILED if delay_s is None else DeliveryStatus.PENDING
        if delay_s is not None:
            next_attempt_at = now + timedelta(seconds=delay_s)
    recorded = await store.record_attempt(delivery, result, now, status, next_attempt_at)
    if recorded and status is DeliveryStatus.FAILED:
        await outbox.emit(
            WebhookDeliveryFailed(
                occurred_at=now,
                tenant_id=delivery.tenant_id,
                endpoint_id=delivery.endpoint_id,
                delivery_id=delivery.delivery_id,
                delivered_event_id=str(delivery.event_id),
                delivered_event_type=delivery.event_type,
                attempts=delivery.attempt,
                last_error=result.error or f"HTTP {result.status_code}",
            )
        )
    return status
