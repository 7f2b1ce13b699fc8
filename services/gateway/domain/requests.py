"""Idempotency fingerprints and the opaque keyset page tokens of job listings."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.gateway.domain.errors import InvalidInput

MAX_IDEMPOTENCY_KEY_LENGTH = 200


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, so equal requests hash equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_fingerprint(body: Any) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def check_idempotency_key(key: str) -> None:
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidInput.one(
            "Idempotency-Key",
            f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters and not blank",
            location="header",
        )


@dataclass(frozen=True)
class JobPageCursor:
    """Where the next page starts: after (created_at, job_id) in newest-first order.

    The token also records the listing's filters, so a token is not replayed against another listing.
    """

    created_at: datetime
    job_id: str
    filters: str

    def encode(self) -> str:
        raw = canonical_json({"c": self.created_at.isoformat(), "j": self.job_id, "f": self.filters})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, filters: str) -> JobPageCursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            cursor = cls(datetime.fromisoformat(data["c"]), str(data["j"]), str(data["f"]))
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            raise InvalidInput.one("page_token", "is not a page token issued by this API", "query") from error
        if cursor.filters != filters:
            raise InvalidInput.one(
                "page_token", "belongs to a listing with other filters; start again without it", "query"
            )
        return cursor


def listing_filters(tenant_id: str | None, project_id: str | None, state: str | None) -> str:
    """A short, stable digest of a job listing's filters, carried in its page tokens."""
    return request_fingerprint([tenant_id, project_id, state])[:16]
