"""Idempotency fingerprints and the opaque keyset page tokens of job listings."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.gateway.domain.errors import InvalidInput
from services.gateway.domain.pages import PageCursor, key_time

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
    """Where the next page of jobs starts: after (created_at, job_id) in newest-first order. Its token is
    the one every list uses (domain/pages.py), so it is refused for another listing like theirs."""

    created_at: datetime
    job_id: str
    filters: str

    def encode(self) -> str:
        return PageCursor((self.created_at.isoformat(), self.job_id), self.filters).encode()

    @classmethod
    def decode(cls, token: str, filters: str) -> JobPageCursor:
        created_at, job_id = PageCursor.decode(token, filters, parts=2).key
        return cls(key_time(created_at), job_id, filters)


def listing_filters(*filters: str | None) -> str:
    """A short, stable digest of a listing's filters, carried in its page tokens (the job listing's are
    tenant, project and state; the others start with the listing's name)."""
    return request_fingerprint(list(filters))[:16]
