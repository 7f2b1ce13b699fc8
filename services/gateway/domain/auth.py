"""API keys, principals and the authorization rules.

Keys are random, shown once, and stored only as SHA-256 hashes. A tenant key never learns that another
tenant's resource exists: touching one reads as "not found", never as "forbidden". A key may expire, be
revoked or rotated (services/gateway/app/keys.py); the operator's key comes from the settings and must not
be a placeholder or short (operator_key_problem).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from services.gateway.domain.errors import FieldError, Forbidden, InvalidInput, NotFound
from shared.contracts.secret_strength import secret_problem

API_KEY_PREFIX = "afk_"
MIN_OPERATOR_KEY_LENGTH = 24
# Placeholders this repository once shipped (docker-compose.yml, deploy/) and their like: whoever read
# the repository knows them, so none is ever the operator's key.
MAX_KEY_TTL_S = 3650 * 86_400  # ten years: a key's lifetime at creation, at most
MAX_ROTATION_GRACE_S = 86_400  # the old secret of a rotated key works this long at most
# last_used_at is written when it is older than this: at most one write a minute per key, not one a request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Role(StrEnum):
    ADMIN = "admin"  # manages projects and keys of its tenant, plus member rights
    MEMBER = "member"  # submits and cancels jobs, reads
    VIEWER = "viewer"  # reads only

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator (tenant_id None), or a key of one tenant with one role."""

    tenant_id: str | None
    role: Role | None
    key_id: str | None = None
    request_id: str | None = None  # the request it calls with (X-Request-Id or trace id), for the audit log

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None

    @classmethod
    def operator(cls) -> Principal:
        return cls(tenant_id=None, role=None)


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str  # shown once to the caller, never stored
    key_hash: str


def generate_api_key() -> NewApiKey:
    plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(plaintext=plaintext, key_hash=hash_api_key(plaintext))


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def is_operator_key(presented: str, admin_key: str) -> bool:
    """Constant-time comparison; an unset admin key matches nothing, so operator actions stay closed."""
    if not admin_key:
        return False
    return hmac.compare_digest(presented.encode(), admin_key.encode())


def operator_key_problem(key: str) -> str | None:
    """What is wrong with `key` as the operator's key (None: nothing). An empty key is no key at all: the
    gateway then refuses every operator action. The message never repeats the key."""
    return secret_problem(key, min_length=MIN_OPERATOR_KEY_LENGTH) if key else None


def key_expiry(now: datetime, expires_at: datetime | None, ttl_s: int | None) -> datetime | None:
    """When a new key stops working: at `expires_at`, or `ttl_s` seconds from now (None: never)."""
    if expires_at is not None and ttl_s is not None:
        raise InvalidInput([FieldError("ttl_s", "give expires_at or ttl_s, not both")])
    if ttl_s is not None:
        if not 1 <= ttl_s <= MAX_KEY_TTL_S:
            raise InvalidInput.one("ttl_s", f"must be between 1 and {MAX_KEY_TTL_S} seconds")
        return now + timedelta(seconds=ttl_s)
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput.one("expires_at", "must carry its UTC offset (such as 2026-01-01T00:00:00Z)")
    if expires_at <= now:
        raise InvalidInput.one("expires_at", f"must be in the future (now is {now.isoformat()})")
    if expires_at - now > timedelta(seconds=MAX_KEY_TTL_S):
        raise InvalidInput.one("expires_at", "must be at most ten years from now")
    return expires_at.astimezone(UTC)


def rotation_grace(grace_s: int) -> timedelta:
    if not 0 <= grace_s <= MAX_ROTATION_GRACE_S:
        raise InvalidInput.one("grace_s", f"must be between 0 and {MAX_ROTATION_GRACE_S} seconds")
    return timedelta(seconds=grace_s)


def require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("only the platform operator may do this")


def require_role(principal: Principal, needed: Role) -> None:
    """The operator passes every role check; a tenant key needs at least `needed`."""
    if principal.is_operator:
        return
    assert principal.role is not None
    if principal.role.rank < needed.rank:
        raise Forbidden(f"this needs the {needed.value} role; the key has {principal.role.value}")


def require_tenant_access(principal: Principal, tenant_id: str, kind: str, identifier: str) -> None:
    """A resource of another tenant is reported as missing, so its existence does not leak."""
    if not principal.is_operator and principal.tenant_id != tenant_id:
        raise NotFound(kind, identifier)


def scope_tenant(principal: Principal, requested: str | None) -> str | None:
    """The tenant a listing covers: a tenant key always its own; the operator the one asked (None: all)."""
    if requested == "":
        # Not "all" and no tenant: refused here, before a read passes it on to metering (which refuses it).
        raise InvalidInput.one("tenant_id", "must not be empty", "query")
    if principal.is_operator:
        return requested
    if requested is not None and requested != principal.tenant_id:
        raise NotFound("tenant", requested)
    return principal.tenant_id
