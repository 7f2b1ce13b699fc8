"""Turning a presented API key into a principal: the operator's key, or a tenant key that is neither
revoked nor expired (nor the old secret of a rotated key past its grace). A tenant key's last use is
recorded to the minute, so most requests write nothing."""

from __future__ import annotations

from services.gateway.app.ports import GatewayStore
from services.gateway.domain.auth import LAST_USED_RESOLUTION, Principal, hash_api_key, is_operator_key
from services.gateway.domain.errors import Unauthenticated
from shared.clock import Clock, SystemClock


class Authenticator:
    def __init__(self, store: GatewayStore, admin_key: str, clock: Clock | None = None) -> None:
        self._store = store
        self._admin_key = admin_key
        self._clock = clock or SystemClock()

    async def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise Unauthenticated("send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        if is_operator_key(presented, self._admin_key):
            return Principal.operator()
        key_hash = hash_api_key(presented)
        async with self._store.reading() as uow:
            key = await uow.api_keys.find_by_hash(key_hash)
        if key is None:
            raise Unauthenticated("the API key is not known")
        now = self._clock.now()
        refusal = key.refusal(key_hash, now)
        if refusal is not None:
            raise Unauthenticated(refusal)
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            async with self._store.transaction() as uow:
                await uow.api_keys.touch(key.key_id, now, now - LAST_USED_RESOLUTION)
        return Principal(tenant_id=key.tenant_id, role=key.role, key_id=key.key_id)
