"""The WebhookStore on PostgreSQL (schema metering), bound to one transaction's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from uuid import UUID

import asyncpg

from services.metering.webhooks.app.ports import (
    AttemptRecord,
    AttemptResult,
    DeliveryRecord,
    DueDelivery,
    WebhookEndpoint,
)
from services.metering.webhooks.domain.pages import DeliveryKey
from services.metering.webhooks.domain.rules import DeliveryStatus

SAVE_ENDPOINT_SQL = """
INSERT INTO webhook_endpoints (endpoint_id, tenant_id, url, secret, event_types, active, set_at)
VALUES ($1, $2, $3, $4, $5, true, $6)
ON CONFLICT (endpoint_id) DO UPDATE
SET url = EXCLUDED.url, secret = EXCLUDED.secret, event_types = EXCLUDED.event_types, active = true,
    set_at = EXCLUDED.set_at
WHERE webhook_endpoints.set_at <= EXCLUDED.set_at AND webhook_endpoints.tenant_id = EXCLUDED.tenant_id
RETURNING true
"""

# SKIP LOCKED: dispatchers of several replicas share the work; the lease hides a claimed delivery
# until its attempt is recorded (or the lease runs out, when its dispatcher died).
CLAIM_DUE_SQL = """
WITH due AS (
    SELECT d.delivery_id FROM webhook_deliveries d JOIN webhook_endpoints e USING (endpoint_id)
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.active
    ORDER BY d.next_attempt_at, d.delivery_id
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET next_attempt_at = $3
FROM due, webhook_endpoints e
WHERE d.delivery_id = due.delivery_id AND e.endpoint_id = d.endpoint_id
RETURNING d.delivery_id, d.endpoint_id, d.tenant_id, e.url, e.secret, d.event_id, d.event_type, d.body,
          d.attempts + 1 AS attempt
"""

RECORD_ATTEMPT_SQL = """
WITH moved AS (
    UPDATE webhook_deliveries SET attempts = $2, status = $3::text, next_attempt_at = $4::timestamptz,
        finished_at = CASE WHEN $3::text = 'pending' THEN NULL ELSE $5::timestamptz END
    WHERE delivery_id = $1 AND attempts = $2 - 1 AND status = 'pending'
    RETURNING delivery_id
)
INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, error, duration_ms, next_retry_at)
SELECT delivery_id, $2, $5, $6, $7, $8, $4 FROM moved
RETURNING true
"""

DELIVERIES_SQL = """
SELECT d.delivery_id, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at,
       d.created_at, d.finished_at, a.attempt, a.attempted_at, a.status_code, a.error, a.duration_ms,
       a.next_retry_at
FROM (SELECT * FROM webhook_deliveries WHERE tenant_id = $1 AND ($2::text IS NULL OR endpoint_id = $2)
        AND ($4::timestamptz IS NULL OR (created_at, delivery_id) < ($4::timestamptz, $5::bigint))
      ORDER BY created_at DESC, delivery_id DESC LIMIT $3) d
LEFT JOIN webhook_attempts a USING (delivery_id)
ORDER BY d.created_at DESC, d.delivery_id DESC, a.attempt
"""


class PgWebhookStore:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def save_endpoint(self, endpoint: WebhookEndpoint) -> bool:
        saved = await self._conn.fetchval(
            SAVE_ENDPOINT_SQL,
            endpoint.endpoint_id,
            endpoint.tenant_id,
            endpoint.url,
            endpoint.secret,
            list(endpoint.event_types),
            endpoint.set_at,
        )
        return bool(saved)

    async def deactivate_endpoint(self, tenant_id: str, endpoint_id: str, at: datetime) -> bool:
        status = await self._conn.execute(
            "UPDATE webhook_endpoints SET active = false WHERE endpoint_id = $1 AND tenant_id = $2",
            endpoint_id,
            tenant_id,
        )
        if status == "UPDATE 0":
            return False
        await self._conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, finished_at = $2"
            " WHERE endpoint_id = $1 AND status = 'pending'",
            endpoint_id,
            at,
        )
        return True

    async def subscribers(self, tenant_id: str) -> Sequence[WebhookEndpoint]:
        rows = await self._conn.fetch(
            "SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND active ORDER BY endpoint_id", tenant_id
        )
        return [_endpoint(row) for row in rows]

    async def endpoints(self, tenant_id: str) -> Sequence[WebhookEndpoint]:
        rows = await self._conn.fetch(
            "SELECT * FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY endpoint_id", tenant_id
        )
        return [_endpoint(row) for row in rows]

    async def add_delivery(
        self, endpoint: WebhookEndpoint, event_id: UUID, event_type: str, body: bytes, at: datetime
    ) -> bool:
        added = await self._conn.fetchval(
            "INSERT INTO webhook_deliveries (endpoint_id, tenant_id, event_id, event_type, body, status,"
            " next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)"
            " ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING true",
            endpoint.endpoint_id,
            endpoint.tenant_id,
            event_id,
            event_type,
            body,
            at,
        )
        return bool(added)

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> Sequence[DueDelivery]:
        rows = await self._conn.fetch(CLAIM_DUE_SQL, now, limit, lease_until)
        return [
            DueDelivery(
                delivery_id=row["delivery_id"],
                endpoint_id=row["endpoint_id"],
                tenant_id=row["tenant_id"],
                url=row["url"],
                secret=row["secret"],
                event_id=row["event_id"],
                event_type=row["event_type"],
                body=bytes(row["body"]),
                attempt=row["attempt"],
            )
            for row in rows
        ]

    async def record_attempt(
        self,
        delivery: DueDelivery,
        result: AttemptResult,
        at: datetime,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
    ) -> bool:
        recorded = await self._conn.fetchval(
            RECORD_ATTEMPT_SQL,
            delivery.delivery_id,
            delivery.attempt,
            status.value,
            next_attempt_at,
            at,
            result.status_code,
            result.error,
            result.duration_ms,
        )
        return bool(recorded)

    async def deliveries(
        self, tenant_id: str, endpoint_id: str | None, limit: int, after: DeliveryKey | None = None
    ) -> Sequence[DeliveryRecord]:
        rows = await self._conn.fetch(
            DELIVERIES_SQL,
            tenant_id,
            endpoint_id,
            limit,
            after.created_at if after else None,
            after.delivery_id if after else None,
        )
        records = []
        for _, group in groupby(rows, lambda row: row["delivery_id"]):
            attempts = list(group)
            first = attempts[0]
            records.append(
                DeliveryRecord(
                    delivery_id=first["delivery_id"],
                    endpoint_id=first["endpoint_id"],
                    event_id=first["event_id"],
                    event_type=first["event_type"],
                    status=DeliveryStatus(first["status"]),
                    attempts=first["attempts"],
                    next_attempt_at=first["next_attempt_at"],
                    created_at=first["created_at"],
                    finished_at=first["finished_at"],
                    attempt_log=tuple(_attempt(row) for row in attempts if row["attempt"] is not None),
                )
            )
        return records


def _endpoint(row: asyncpg.Record) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id=row["endpoint_id"],
        tenant_id=row["tenant_id"],
        url=row["url"],
        secret=row["secret"],
        event_types=tuple(row["event_types"]),
        active=row["active"],
        set_at=row["set_at"],
    )


def _attempt(row: asyncpg.Record) -> AttemptRecord:
    return AttemptRecord(
        attempt=row["attempt"],
        attempted_at=row["attempted_at"],
        status_code=row["status_code"],
        error=row["error"],
        duration_ms=row["duration_ms"],
        next_retry_at=row["next_retry_at"],
    )
