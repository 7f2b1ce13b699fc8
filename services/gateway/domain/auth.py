"""API keys, principals and the authorization rules.

Keys are random, shown once, and stored only as SHA-256 hashes. A tenant key never learns that another
tenant's resource exists: touching one reads as "not found", never as "forbidden".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from services.gateway.domain.errors import Forbidden, InvalidInput, NotFound

API_KEY_PREFIX = "afk_"


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
