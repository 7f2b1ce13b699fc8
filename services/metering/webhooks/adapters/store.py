"""The WebhookStore on PostgreSQL (schema metering), bound to one transaction's connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

# The dispatchers' claim, fair between tenants. SKIP LOCKED: dispatchers of several replicas share the
# work; the lease hides a claimed delivery until its attempt is recorded (or the lease runs out, when its
# dispatcher died). The tenants with pending deliveries are found by skipping through the index (one
# probe per tenant, not one row per delivery: a tenant's backlog costs the others nothing); each tenant
# offers its oldest due deliveries, as many as it has room for ($4 less its attempts in flight, $5/$6),
# and the free slots ($2) go to each tenant's first, then each one's second, ...
CLAIM_DUE_SQL = """
WITH RECURSIVE pending_tenants(tenant_id) AS (
    (SELECT tenant_id FROM webhook_deliveries WHERE status = 'pending' ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.tenant_id FROM webhook_deliveries d
            WHERE d.status = 'pending' AND d.tenant_id > p.tenant_id ORDER BY d.tenant_id LIMIT 1)
    FROM pending_tenants p WHERE p.tenant_id IS NOT NULL
),
offered AS (
    SELECT c.delivery_id, c.next_attempt_at, c.turn
    FROM pending_tenants p
    LEFT JOIN unnest($5::text[], $6::int[]) AS busy(tenant_id, in_flight) ON busy.tenant_id = p.tenant_id
    CROSS JOIN LATERAL (
        SELECT d.delivery_id, d.next_attempt_at,
               row_number() OVER (ORDER BY d.next_attempt_at, d.delivery_id) AS turn
        FROM webhook_deliveries d JOIN webhook_endpoints e USING (endpoint_id)
        WHERE d.status = 'pending' AND d.tenant_id = p.tenant_id AND d.next_attempt_at <= $1 AND e.active
        ORDER BY d.next_attempt_at, d.delivery_id
        LIMIT greatest($4::int - coalesce(busy.in_flight, 0), 0)
    ) c
    WHERE p.tenant_id IS NOT NULL
),
due AS (
    SELECT d.delivery_id FROM webhook_deliveries d JOIN offered o USING (delivery_id)
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
    ORDER BY o.turn, o.next_attempt_at, d.delivery_id
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET next_attempt_at = $3
FROM due, webhook_endpoints e
WHERE d.delivery_id = due.delivery_id AND e.endpoint_id = d.endpoint_id
RETURNING d.delivery_id, d.endpoint_id, d.tenant_id, e.url, e.secret, d.event_id, d.event_type, d.body,
          d.attempts + 1 AS attempt
"""

# A tenant's set of endpoints changes one transaction at a time (every replica's): its cap is counted
# and kept in one step, and an endpoint is not removed while a delivery to it is being queued.
LOCK_TENANT_ENDPOINTS_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || $1, 0))"

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
        await self._conn.execute(LOCK_TENANT_ENDPOINTS_SQL, tenant_id)
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
        await self._conn.execute(LOCK_TENANT_ENDPOINTS_SQL, tenant_id)
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

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        per_tenant: int | None = None,
        in_flight: Mapping[str, int] | None = None,
    ) -> Sequence[DueDelivery]:
        busy = dict(in_flight or {})
        rows = await self._conn.fetch(
            CLAIM_DUE_SQL, now, limit, lease_until, per_tenant or limit, list(busy), list(busy.values())
        )
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
