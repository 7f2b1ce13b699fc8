"""The gateway's proof, on each call to metering's internal API, that it is the gateway and for whom it asks.

Both services hold one shared secret (AIFACTORY_METERING_API_KEY; no other process gets it). Per request
the gateway signs a short-lived assertion, HMAC-SHA256 over: the scope (one tenant, or the operator's
fleet view), the HTTP method, the path (decoded, without the query), the expiry (a minute ahead, Unix
seconds) and a random nonce. It travels as `Authorization: AIFactory-Service <token>`, the token being
`v1.<scope, base64url>.<expiry>.<nonce>.<signature, base64url>`. Metering checks the signature (constant
time), the expiry, that it was made for this method and path, and takes the tenant from the scope, never
from the query string.

Pure: the standard library only. Time is passed in (Unix seconds of the wall clock: the two services'
business clocks may differ, tests shift metering's).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from shared.contracts.secret_strength import GENERATE, secret_problem

SCHEME = "AIFactory-Service"
VERSION = "v1"
TTL_S = 60  # how far ahead the gateway sets an assertion's expiry
CLOCK_LEEWAY_S = 5  # the two hosts' clocks may differ by this much, either way
MIN_KEY_LENGTH = 32

_FLEET = "fleet"
_TENANT_PREFIX = "tenant:"
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EXPIRY = re.compile(r"[0-9]{1,12}")
_SIGNATURE_BYTES = hashlib.sha256().digest_size


class InvalidAssertion(Exception):
    """The call does not prove it comes from the gateway (the message never repeats the token nor any
    tenant: it answers callers who proved nothing)."""


@dataclass(frozen=True)
class ServiceScope:
    """For whom the gateway asks: one tenant (tenant_id), or the operator's fleet view (None)."""

    tenant_id: str | None

    def __post_init__(self) -> None:
        if self.tenant_id is not None and not self.tenant_id:
            raise ValueError("a tenant's scope needs its id: the fleet's view is tenant_id None")

    @classmethod
    def tenant(cls, tenant_id: str) -> ServiceScope:
        return cls(tenant_id)

    @classmethod
    def fleet(cls) -> ServiceScope:
        return cls(None)

    @property
    def is_fleet(self) -> bool:
        return self.tenant_id is None

    def encode(self) -> str:
        return _FLEET if self.tenant_id is None else _TENANT_PREFIX + self.tenant_id

    @classmethod
    def decode(cls, text: str) -> ServiceScope:
        if text == _FLEET:
            return cls.fleet()
        if text.startswith(_TENANT_PREFIX) and len(text) > len(_TENANT_PREFIX):
            return cls.tenant(text[len(_TENANT_PREFIX) :])
        raise InvalidAssertion("the service assertion is malformed")


@dataclass(frozen=True)
class ServiceAssertion:
    scope: ServiceScope
    expires_at: int
    nonce: str


def service_key_problem(key: str) -> str | None:
    """What is wrong with `key` as the shared service secret (None: nothing); never repeats the key."""
    if not key:
        return f"is not set; {GENERATE}"
    return secret_problem(key, min_length=MIN_KEY_LENGTH)


def sign(key: str, scope: ServiceScope, method: str, path: str, now: float, nonce: str | None = None) -> str:
    """The token asserting `scope` for one `method` `path`, expiring TTL_S after `now`."""
    expires_at = int(now) + TTL_S
    nonce = nonce if nonce is not None else secrets.token_urlsafe(12)
    if not _NONCE.fullmatch(nonce):
        raise ValueError("a nonce is 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
    encoded_scope = _b64encode(scope.encode().encode())
    mac = _mac(key, encoded_scope, method, path, str(expires_at), nonce)
    return ".".join((VERSION, encoded_scope, str(expires_at), nonce, _b64encode(mac)))


def authorization(key: str, scope: ServiceScope, method: str, path: str, now: float) -> str:
    """The Authorization header's value for one request."""
    return f"{SCHEME} {sign(key, scope, method, path, now)}"


def verify(key: str, token: str, method: str, path: str, now: float) -> ServiceAssertion:
    """The assertion `token` makes, when `key` signed it for this `method` and `path` and it has not
    expired; InvalidAssertion otherwise."""
    if not key:
        raise InvalidAssertion("no service key is configured")
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != VERSION:
        raise InvalidAssertion("the service assertion is malformed")
    _, encoded_scope, expiry, nonce, encoded_mac = parts
    if not (_EXPIRY.fullmatch(expiry) and _NONCE.fullmatch(nonce)):
        raise InvalidAssertion("the service assertion is malformed")
    presented = _b64decode(encoded_mac)
    expected = _mac(key, encoded_scope, method, path, expiry, nonce)
    if len(presented) != _SIGNATURE_BYTES or not hmac.compare_digest(presented, expected):
        raise InvalidAssertion(
            "the service assertion's signature does not hold for this request "
            "(another key, altered, or made for another method or path)"
        )
    expires_at = int(expiry)
    if expires_at + CLOCK_LEEWAY_S < now:
        raise InvalidAssertion("the service assertion has expired")
    if expires_at > now + TTL_S + CLOCK_LEEWAY_S:
        raise InvalidAssertion("the service assertion expires too far ahead")
    try:
        scope_text = _b64decode(encoded_scope).decode()
    except UnicodeDecodeError:
        raise InvalidAssertion("the service assertion is malformed") from None
    return ServiceAssertion(ServiceScope.decode(scope_text), expires_at, nonce)


def verify_authorization(
    key: str, header: str | None, method: str, path: str, now: float
) -> ServiceAssertion:
    """verify() on an Authorization header's value (None: the header is missing)."""
    if not header:
        raise InvalidAssertion(f"a signed service assertion is required (Authorization: {SCHEME} ...)")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != SCHEME.lower() or not token.strip():
        raise InvalidAssertion(f"the Authorization header is not a {SCHEME} assertion")
    return verify(key, token.strip(), method, path, now)


def _mac(key: str, encoded_scope: str, method: str, path: str, expiry: str, nonce: str) -> bytes:
    # Each field prefixed with its length: no two lists of fields make one message, whatever they hold.
    fields = (f"aifactory-service-{VERSION}", encoded_scope, method.upper(), path, expiry, nonce)
    message = b"".join(
        b"%d:%s" % (len(data), data) for data in (field.encode("utf-8", "surrogatepass") for field in fields)
    )
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise InvalidAssertion("the service assertion is malformed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidAssertion("the service assertion is malformed") from None
