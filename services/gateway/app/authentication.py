"""Turning a presented API key into a principal."""

from __future__ import annotations

from services.gateway.app.ports import GatewayStore
from services.gateway.domain.auth import Principal, hash_api_key, is_operator_key
from services.gateway.domain.errors import Unauthenticated


class Authenticator:
    def __init__(self, store: GatewayStore, admin_key: str) -> None:
        self._store = store
        self._admin_key = admin_key

    async def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise Unauthenticated("send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        if is_operator_key(presented, self._admin_key):
            return Principal.operator()
        async with self._store.reading() as uow:
            key = await uow.api_keys.find_by_hash(hash_api_key(presented))
        if key is None:
            raise Unauthenticated("the API key is not known")
        return Principal(tenant_id=key.tenant_id, role=key.role, key_id=key.key_id)
