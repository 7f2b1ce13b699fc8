"""The ports webhook delivery works through: the store (one open transaction) and the HTTP sender."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from services.metering.webhooks.domain.pages import DeliveryKey
from services.metering.webhooks.domain.rules import DeliveryStatus


@dataclass(frozen=True)
class WebhookEndpoint:
    endpoint_id: str
    tenant_id: str
    url: str
    secret: str
    event_types: tuple[str, ...]  # empty: every billing event
    active: bool
    set_at: datetime


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed for its next attempt, with what sending it needs."""

    delivery_id: int
    endpoint_id: str
    tenant_id: str
    url: str
    secret: str
    event_id: UUID
    event_type: str
    body: bytes
    attempt: int  # the number of the attempt about to be made (1 for the first)


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None  # None: no response (timeout, connection refused, ...)
    error: str | None
    duration_ms: float


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float
    next_retry_at: datetime | None


@dataclass(frozen=True)
class DeliveryRecord:
    delivery_id: int
    endpoint_id: str
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: tuple[AttemptRecord, ...]


class WebhookStore(Protocol):
    async def save_endpoint(self, endpoint: WebhookEndpoint) -> bool:
        """Insert or replace; False when a later setting of the endpoint is kept already."""
        ...

    async def deactivate_endpoint(self, tenant_id: str, endpoint_id: str, at: datetime) -> bool:
        """Stop delivering to it: its pending deliveries end as failed. False when unknown."""
        ...

    async def subscribers(self, tenant_id: str) -> Sequence[WebhookEndpoint]:
        """The tenant's active endpoints, which no other transaction may change until this one ends (so
        the cap on endpoints holds across replicas, and no delivery is queued to a removed endpoint)."""
        ...

    async def add_delivery(
        self, endpoint: WebhookEndpoint, event_id: UUID, event_type: str, body: bytes, at: datetime
    ) -> bool:
        """A pending delivery, due at once; False when the endpoint has this event already."""
        ...

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        per_tenant: int | None = None,
        in_flight: Mapping[str, int] | None = None,
    ) -> Sequence[DueDelivery]:
        """At most `limit` due pending deliveries of active endpoints, oldest due first; each is hidden
        from other claims until lease_until (a dispatcher that dies mid-attempt has it tried again then).
        With `per_tenant`: at most that many of a tenant, less its attempts `in_flight` already, and the
        tenants taken in turn (each one's oldest first, then each one's second, ...), so a tenant with
        a backlog cannot take every slot."""
        ...

    async def record_attempt(
        self,
        delivery: DueDelivery,
        result: AttemptResult,
        at: datetime,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Log the attempt and move the delivery on; False when that attempt was recorded already."""
        ...

    async def endpoints(self, tenant_id: str) -> Sequence[WebhookEndpoint]: ...

    async def deliveries(
        self, tenant_id: str, endpoint_id: str | None, limit: int, after: DeliveryKey | None = None
    ) -> Sequence[DeliveryRecord]:
        """At most `limit` of the tenant's deliveries, newest first (created_at, then delivery_id, both
        descending), those after `after` in that order when given; each with every attempt."""
        ...


class WebhookSender(Protocol):
    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> AttemptResult: ...
