"""A tenant's API keys: create (with an optional expiry), list, read, revoke and rotate.

The operator manages every tenant's keys, a tenant's admin only its own tenant's: another tenant's key id
reads as "not found", so its existence does not leak. Members and viewers manage none. A secret is shown
once, when it is made (created or rotated); listings never carry it, nor its hash.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.gateway.app.audit import record
from services.gateway.app.pages import Page, PageRequest, page_of
from services.gateway.app.ports import GatewayStore, GatewayUnitOfWork
from services.gateway.domain.auth import (
    Principal,
    Role,
    generate_api_key,
    key_expiry,
    require_role,
    require_tenant_access,
    rotation_grace,
    scope_tenant,
)
from services.gateway.domain.errors import Conflict, NotFound
from services.gateway.domain.model import ApiKey, new_key_id
from services.gateway.domain.pages import key_time
from services.gateway.domain.requests import listing_filters
from shared.clock import Clock


@dataclass(frozen=True)
class CreateKey:
    tenant_id: str
    role: Role
    name: str
    expires_at: datetime | None = None  # with its offset; or
    ttl_s: int | None = None  # seconds from now (not both; neither: the key never expires)


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    plaintext: str  # shown once


class KeyManagement:
    def __init__(self, store: GatewayStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create_key(self, principal: Principal, command: CreateKey) -> CreatedKey:
        require_tenant_access(principal, command.tenant_id, "tenant", command.tenant_id)
        require_role(principal, Role.ADMIN)
        now = self._clock.now()
        expires_at = key_expiry(now, command.expires_at, command.ttl_s)
        secret = generate_api_key()
        key = ApiKey(
            new_key_id(), command.tenant_id, command.role, command.name, secret.key_hash, now, expires_at
        )
        async with self._store.transaction() as uow:
            if await uow.tenants.get(command.tenant_id) is None:
                raise NotFound("tenant", command.tenant_id)
            await uow.api_keys.add(key)
            await record(uow, principal, "key.create", key.key_id, key.tenant_id, now)
        return CreatedKey(key, secret.plaintext)

    async def list_keys(
        self, principal: Principal, tenant_id: str | None = None, page: PageRequest = PageRequest()
    ) -> Page[ApiKey]:
        """The operator: every tenant's keys, or one tenant's; a tenant admin: its own. Oldest first,
        revoked and expired keys included (each says so)."""
        require_role(principal, Role.ADMIN)
        scoped = scope_tenant(principal, tenant_id)
        filters = listing_filters("keys", scoped)
        start = page.start(filters, 2)
        after = (key_time(start[0]), start[1]) if start else None
        async with self._store.reading() as uow:
            rows = await uow.api_keys.list(scoped, after, page.limit)
        return page_of(rows, page, filters, lambda k: (k.created_at.isoformat(), k.key_id))

    async def get_key(self, principal: Principal, key_id: str) -> ApiKey:
        require_role(principal, Role.ADMIN)
        async with self._store.reading() as uow:
            return await _key(uow, principal, key_id)

    async def revoke_key(self, principal: Principal, key_id: str) -> ApiKey:
        """At once: the next request with the key (or its previous secret) is refused. Revoking a revoked
        key changes nothing and answers the key as it is."""
        require_role(principal, Role.ADMIN)
        async with self._store.transaction() as uow:
            key = await _key(uow, principal, key_id, for_update=True)
            if key.revoked_at is not None:
                return key
            revoked = replace(
                key,
                revoked_at=self._clock.now(),
                previous_key_hash=None,
                previous_key_expires_at=None,
            )
            await uow.api_keys.save(revoked)
            assert revoked.revoked_at is not None
            await record(uow, principal, "key.revoke", key_id, key.tenant_id, revoked.revoked_at)
        return revoked

    async def rotate_key(self, principal: Principal, key_id: str, grace_s: int = 0) -> CreatedKey:
        """A new secret for the same key (id, name, role, tenant, expiry). The old secret stops working at
        once, or after `grace_s` seconds; a secret older than that (rotated twice) stops at once."""
        require_role(principal, Role.ADMIN)
        grace = rotation_grace(grace_s)
        now = self._clock.now()
        secret = generate_api_key()
        async with self._store.transaction() as uow:
            key = await _key(uow, principal, key_id, for_update=True)
            if key.revoked_at is not None:
                raise Conflict(f"key {key_id} was revoked; create a new key instead")
            if key.expires_at is not None and now >= key.expires_at:
                raise Conflict(f"key {key_id} expired; create a new key instead")
            rotated = replace(
                key,
                key_hash=secret.key_hash,
                previous_key_hash=key.key_hash if grace else None,
                previous_key_expires_at=now + grace if grace else None,
            )
            await uow.api_keys.save(rotated)
            await record(uow, principal, "key.rotate", key_id, key.tenant_id, now)
        return CreatedKey(rotated, secret.plaintext)


async def _key(uow: GatewayUnitOfWork, principal: Principal, key_id: str, for_update: bool = False) -> ApiKey:
    key = await uow.api_keys.get(key_id, for_update=for_update)
    if key is None:
        raise NotFound("key", key_id)
    require_tenant_access(principal, key.tenant_id, "key", key_id)
    return key
