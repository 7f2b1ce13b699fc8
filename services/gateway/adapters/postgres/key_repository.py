"""API keys on PostgreSQL (gateway.api_keys): only each secret's SHA-256 hash is stored."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.gateway.domain.auth import Role
from services.gateway.domain.model import ApiKey


class PgApiKeys:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, key: ApiKey) -> None:
        await self._conn.execute(
            "INSERT INTO api_keys (key_id, tenant_id, role, name, key_hash, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            key.key_id,
            key.tenant_id,
            key.role.value,
            key.name,
            key.key_hash,
            key.created_at,
            key.expires_at,
        )

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        # Both columns are uniquely indexed: one index probe each, on every authenticated request.
        row = await self._conn.fetchrow(
            "SELECT * FROM api_keys WHERE key_hash = $1 OR previous_key_hash = $1", key_hash
        )
        return _key(row) if row else None

    async def get(self, key_id: str, *, for_update: bool = False) -> ApiKey | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT * FROM api_keys WHERE key_id = $1{lock}", key_id)
        return _key(row) if row else None

    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[ApiKey]:
        rows = await self._conn.fetch(
            "SELECT * FROM api_keys WHERE ($1::text IS NULL OR tenant_id = $1) "
            "AND ($2::timestamptz IS NULL OR (created_at, key_id) > ($2, $3::text)) "
            "ORDER BY created_at, key_id LIMIT $4",
            tenant_id,
            *(after or (None, None)),
            limit,
        )
        return [_key(row) for row in rows]

    async def save(self, key: ApiKey) -> None:
        await self._conn.execute(
            "UPDATE api_keys SET key_hash = $2, previous_key_hash = $3, previous_key_expires_at = $4, "
            "revoked_at = $5 WHERE key_id = $1",
            key.key_id,
            key.key_hash,
            key.previous_key_hash,
            key.previous_key_expires_at,
            key.revoked_at,
        )

    async def touch(self, key_id: str, at: datetime, unless_since: datetime) -> None:
        await self._conn.execute(
            "UPDATE api_keys SET last_used_at = $2 WHERE key_id = $1 "
            "AND (last_used_at IS NULL OR last_used_at < $3)",
            key_id,
            at,
            unless_since,
        )


def _key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        role=Role(row["role"]),
        name=row["name"],
        key_hash=row["key_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        previous_key_hash=row["previous_key_hash"],
        previous_key_expires_at=row["previous_key_expires_at"],
    )
