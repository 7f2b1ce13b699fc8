"""API keys: create (POST /v1/tenants/{tenant_id}/keys), list, read, revoke and rotate (/v1/keys...).

The operator manages every tenant's keys, a tenant's admin its own tenant's (another tenant's key is a
404); members and viewers none (403). Secrets appear only in the answers that make them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.gateway.adapters.http.dependencies import CurrentPrincipal, Paging, UseCases
from services.gateway.adapters.http.key_schemas import (
    CreateKeyRequest,
    KeyCreatedResponse,
    KeyList,
    KeyResponse,
    RotateKeyRequest,
)
from services.gateway.adapters.http.links import linked, to
from services.gateway.app.keys import CreateKey

router = APIRouter(prefix="/v1", tags=["keys"])

KEY = "$response.body#/key_id"


@router.post(
    "/tenants/{tenant_id}/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreatedResponse,
    responses=linked(
        201,
        GetKey=to("get_key_v1_keys__key_id__get", path_key_id=KEY),
        RotateKey=to("rotate_key_v1_keys__key_id__rotate_post", path_key_id=KEY),
        RevokeKey=to("revoke_key_v1_keys__key_id__revoke_post", path_key_id=KEY),
    ),
)
async def create_key(
    tenant_id: str, body: CreateKeyRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> KeyCreatedResponse:
    """The operator or the tenant's admin: a new API key with a role (its secret returned once), which
    stops working at `expires_at` or `ttl_s` seconds from now when either is given."""
    created = await use_cases.keys.create_key(
        principal, CreateKey(tenant_id, body.role, body.name, body.expires_at, body.ttl_s)
    )
    return KeyCreatedResponse.made(created.key, created.plaintext)


@router.get("/keys", response_model=KeyList)
async def list_keys(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    page: Paging,
    tenant_id: Annotated[str | None, Query(description="operator only: one tenant's keys")] = None,
) -> KeyList:
    """The operator: every tenant's keys (or one tenant's); a tenant admin: its own tenant's. Oldest first,
    in pages; revoked and expired keys too. No secret is ever listed."""
    keys = await use_cases.keys.list_keys(principal, tenant_id, page)
    return KeyList(items=[KeyResponse.of(k) for k in keys.items], next_page_token=keys.next_page_token)


@router.get("/keys/{key_id}", response_model=KeyResponse)
async def get_key(key_id: str, principal: CurrentPrincipal, use_cases: UseCases) -> KeyResponse:
    """One key, without its secret."""
    return KeyResponse.of(await use_cases.keys.get_key(principal, key_id))


@router.post("/keys/{key_id}/revoke", response_model=KeyResponse)
async def revoke_key(key_id: str, principal: CurrentPrincipal, use_cases: UseCases) -> KeyResponse:
    """At once: the next request with the key is a 401. Revoking it again changes nothing."""
    return KeyResponse.of(await use_cases.keys.revoke_key(principal, key_id))


@router.post("/keys/{key_id}/rotate", response_model=KeyCreatedResponse)
async def rotate_key(
    key_id: str, principal: CurrentPrincipal, use_cases: UseCases, body: RotateKeyRequest | None = None
) -> KeyCreatedResponse:
    """A new secret (returned once) for the same key: id, name, role, tenant and expiry stay. The old
    secret stops working at once, or `grace_s` seconds from now. A revoked or expired key: 409."""
    grace_s = body.grace_s if body is not None else 0
    rotated = await use_cases.keys.rotate_key(principal, key_id, grace_s)
    return KeyCreatedResponse.made(rotated.key, rotated.plaintext)
