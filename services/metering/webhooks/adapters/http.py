"""Metering's internal webhooks API (the gateway calls it for a tenant it authenticated, asserted in its
signed call: platform/http.py TenantId), answering with the models of shared/contracts/metering_api.py:

GET /v1/webhooks    TenantWebhooks (never the secrets)
GET /v1/webhooks/deliveries[?endpoint_id=E][&limit=50][&after=CURSOR]    TenantDeliveries,
    a page of the delivery log newest first, each delivery with every attempt; its next_cursor, passed
    as `after`, asks for the next page (null on the last). A bad cursor: 400 invalid_cursor naming `after`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.metering.platform.http import TenantId
from services.metering.webhooks.adapters.store import PgWebhookStore
from services.metering.webhooks.app.ports import DeliveryRecord, WebhookEndpoint
from services.metering.webhooks.domain.pages import DeliveryKey, InvalidCursor, decode_cursor, encode_cursor
from shared.contracts import metering_api as api
from shared.db.pool import Database
from shared.http.problems import ProblemError


def webhook_endpoint(endpoint: WebhookEndpoint) -> api.WebhookEndpoint:
    return api.WebhookEndpoint(
        endpoint_id=endpoint.endpoint_id,
        url=endpoint.url,
        event_types=list(endpoint.event_types),
        active=endpoint.active,
        set_at=endpoint.set_at,
    )


def delivery(record: DeliveryRecord) -> api.Delivery:
    return api.Delivery(
        delivery_id=record.delivery_id,
        endpoint_id=record.endpoint_id,
        event_id=record.event_id,
        event_type=record.event_type,
        status=record.status.value,  # type: ignore[arg-type]  # DeliveryStatus's values, one for one
        attempts=record.attempts,
        next_attempt_at=record.next_attempt_at,
        created_at=record.created_at,
        finished_at=record.finished_at,
        attempt_log=[api.DeliveryAttempt(**vars(attempt)) for attempt in record.attempt_log],
    )


def webhooks_router(db: Database) -> APIRouter:
    router = APIRouter()

    @router.get(api.WEBHOOKS_PATH)
    async def webhooks(tenant_id: TenantId) -> api.TenantWebhooks:
        async with db.transaction() as tx:
            endpoints = await PgWebhookStore(tx.conn).endpoints(tenant_id)
        return api.TenantWebhooks(tenant_id=tenant_id, items=[webhook_endpoint(e) for e in endpoints])

    @router.get(api.DELIVERIES_PATH)
    async def deliveries(
        tenant_id: TenantId,
        endpoint_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=api.MAX_DELIVERIES)] = 50,
        after: Annotated[str | None, Query(description="the next_cursor of the page before")] = None,
    ) -> api.TenantDeliveries:
        start = _start(after)
        async with db.transaction() as tx:
            # One more than asked: whether another page follows, without counting.
            records = await PgWebhookStore(tx.conn).deliveries(tenant_id, endpoint_id, limit + 1, start)
        page = records[:limit]
        last = page[-1] if len(records) > limit else None
        return api.TenantDeliveries(
            tenant_id=tenant_id,
            items=[delivery(r) for r in page],
            next_cursor=encode_cursor(DeliveryKey(last.created_at, last.delivery_id)) if last else None,
        )

    return router


def _start(after: str | None) -> DeliveryKey | None:
    if after is None:
        return None
    try:
        return decode_cursor(after)
    except InvalidCursor as error:
        raise ProblemError(
            400,
            error.code,
            f"after {error}",
            errors=[{"field": "after", "in": "query", "message": str(error)}],
        ) from error
