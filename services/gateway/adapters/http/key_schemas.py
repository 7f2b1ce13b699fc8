"""Request and response bodies of the API key routes. A key's secret is in a response only where it is
made (created, rotated); a key as listed or read carries neither it nor its hash."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from services.gateway.adapters.http.schemas import ListPage, Name, RequestBody
from services.gateway.domain.auth import MAX_KEY_TTL_S, MAX_ROTATION_GRACE_S, Role
from services.gateway.domain.model import ApiKey


class CreateKeyRequest(RequestBody):
    role: Role
    name: Name
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the key stops working, with its UTC offset; or ttl_s, not both"
    )
    ttl_s: Annotated[StrictInt, Field(ge=1, le=MAX_KEY_TTL_S)] | None = Field(
        default=None, description="seconds from now until the key stops working; default: never"
    )


class RotateKeyRequest(RequestBody):
    grace_s: StrictInt = Field(
        default=0,
        ge=0,
        le=MAX_ROTATION_GRACE_S,
        description="seconds the old secret keeps working (default 0: it stops at once)",
    )


class KeyResponse(BaseModel):
    key_id: str
    tenant_id: str
    role: Role
    name: str
    created_at: datetime
    expires_at: datetime | None = Field(description="null: never")
    last_used_at: datetime | None = Field(description="to the minute; null: never used")
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyResponse:
        return cls(
            key_id=key.key_id,
            tenant_id=key.tenant_id,
            role=key.role,
            name=key.name,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class KeyList(ListPage):
    items: list[KeyResponse]


class KeyCreatedResponse(KeyResponse):
    api_key: str = Field(description="shown only this once; the gateway keeps only its hash")
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="after a rotation with a grace: when the old secret stops working"
    )

    @classmethod
    def made(cls, key: ApiKey, plaintext: str) -> KeyCreatedResponse:
        return cls(
            **KeyResponse.of(key).model_dump(),
            api_key=plaintext,
            previous_secret_expires_at=key.previous_key_expires_at,
        )
