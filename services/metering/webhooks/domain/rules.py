"""Webhooks for billing events: who gets which event, how a delivery is signed, when it is retried.

Rules:
1. A tenant's endpoint receives each billing event of that tenant whose type it subscribed to (no
   types: every billing event), once per event, as a CloudEvents structured JSON body
   (application/cloudevents+json). Delivery is at least once: receivers de-duplicate on the event id
   (the body's `id`, also in the Webhook-Id header).
2. Signature: header `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
   over the exact body bytes sent. Receivers recompute it, compare in constant time, and refuse a
   timestamp too far from their clock (replays).
3. A response 2xx is delivered. Anything else, a timeout or a connection error fails the attempt; it is
   tried again after an exponential backoff with jitter: base x 2^(attempt - 1), at most max_delay,
   of which the last `jitter` fraction is random. After max_attempts attempts the delivery gives up
   (failed); every attempt is kept in the delivery log.
4. Destinations and limits: only globally routable addresses (unless the operator allows its own
   network), an attempt has a deadline and reads a bounded response, and a tenant has at most so many
   endpoints and attempts under way (WebhookLimits), so it cannot hurt the platform or another tenant.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from services.metering.domain.errors import RejectedInput
from shared.contracts.webhook_endpoints import non_global_reason

SIGNATURE_HEADER = "Webhook-Signature"
SIGNATURE_VERSION = "v1"


class InvalidWebhook(RejectedInput):
    code = "invalid_webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},{SIGNATURE_VERSION}={_digest(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver checks (rule 2): a v1 signature of this body, made within tolerance_s of now."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        presented = parts[SIGNATURE_VERSION]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(presented, _digest(secret, timestamp, body))


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 5.0
    max_delay_s: float = 3600.0
    jitter: float = 0.5  # the random fraction of each delay

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay_s <= 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError(f"invalid retry policy {self}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")

    def delay_after(self, attempt: int, random_fraction: float) -> float | None:
        """Seconds until the next attempt after failed attempt number `attempt` (1 for the first);
        None once it was the last. `random_fraction` in [0, 1) supplies the jitter."""
        if attempt >= self.max_attempts:
            return None
        ceiling = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return ceiling * (1 - self.jitter) + ceiling * self.jitter * random_fraction


def is_delivered(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def subscribes(event_types: Collection[str], event_type: str) -> bool:
    """Rule 1: no types subscribes to every billing event."""
    return not event_types or event_type in event_types


def internal_address(address: str) -> str | None:
    """What makes an IP address no webhook destination (loopback, private, link-local, carrier-grade
    NAT, ...), or None for a globally routable one: the shared rule (shared/contracts/webhook_endpoints.py),
    which the gateway applies to literal addresses at registration."""
    return non_global_reason(address)


@dataclass(frozen=True)
class WebhookLimits:
    """What one tenant may take of the platform (rule 4), besides each attempt's deadline
    (AIFACTORY_WEBHOOK_TIMEOUT_S, from resolving and connecting to the last byte of the response read:
    a receiver that trickles its answer is cut there, as is one that never answers).

    - max_response_bytes: at most this much of a response is read (the rest is never received).
    - max_in_flight_per_tenant: attempts of one tenant under way at once, per dispatcher; the dispatcher
      fills its free slots from the tenants with due deliveries in turn, so a tenant with a slow or
      failing endpoint holds at most this many slots and the others' deliveries go on at once.
    - max_endpoints_per_tenant: active endpoints of one tenant; one more is refused (dead-lettered).
    """

    max_response_bytes: int = 64 * 1024
    max_in_flight_per_tenant: int = 4
    max_endpoints_per_tenant: int = 10

    def __post_init__(self) -> None:
        for name in ("max_response_bytes", "max_in_flight_per_tenant", "max_endpoints_per_tenant"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def endpoint_cap_refusal(
    active_endpoint_ids: Collection[str], endpoint_id: str, max_endpoints: int
) -> str | None:
    """Why setting the endpoint would exceed its tenant's cap (None when it may be set): setting one of
    the tenant's active endpoints again replaces it and is always allowed."""
    if endpoint_id in active_endpoint_ids or len(active_endpoint_ids) < max_endpoints:
        return None
    return (
        f"the tenant has {len(active_endpoint_ids)} active webhook endpoints, the most allowed "
        f"(AIFACTORY_WEBHOOK_MAX_ENDPOINTS_PER_TENANT={max_endpoints}); remove one first"
    )
