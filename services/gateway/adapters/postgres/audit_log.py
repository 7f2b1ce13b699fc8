"""The audit log on PostgreSQL: INSERT and SELECT only; the table's triggers refuse UPDATE and DELETE."""

from __future__ import annotations

import asyncpg

from services.gateway.app.ports import AuditQuery
from services.gateway.domain.audit import AuditEntry


class PgAuditLog:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def append(self, entry: AuditEntry) -> None:
        await self._conn.execute(
            "INSERT INTO audit_log (at, tenant_id, actor, key_id, role, action, target_id, request_id,"
            " outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            entry.at,
            entry.tenant_id,
            entry.actor,
            entry.key_id,
            entry.role,
            entry.action,
            entry.target_id,
            entry.request_id,
            entry.outcome,
        )

    async def list(self, query: AuditQuery) -> list[AuditEntry]:
        rows = await self._conn.fetch(
            "SELECT * FROM audit_log WHERE ($1::text IS NULL OR tenant_id = $1)"
            " AND ($2::text IS NULL OR action = $2) AND ($3::timestamptz IS NULL OR at >= $3)"
            " AND ($4::bigint IS NULL OR entry_id < $4) ORDER BY entry_id DESC LIMIT $5",
            query.tenant_id,
            query.action,
            query.since,
            query.before_entry_id,
            query.limit,
        )
        return [_entry(row) for row in rows]


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        at=row["at"],
        tenant_id=row["tenant_id"],
        actor=row["actor"],
        key_id=row["key_id"],
        role=row["role"],
        action=row["action"],
        target_id=row["target_id"],
        request_id=row["request_id"],
        outcome=row["outcome"],
        entry_id=row["entry_id"],
    )
