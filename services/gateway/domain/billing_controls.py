"""Budgets and webhook endpoints as tenants set them: identifiers, and the rules a webhook must meet
(a budget's terms are the pricing core's: pricing.budgets).

A budget belongs to its scope (a project, or a tenant's whole spend): one per scope, so its id is the
scope's. Metering keeps and tracks both; the gateway checks the input and who may set it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection
from urllib.parse import urlsplit

from services.gateway.domain.errors import FieldError

MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200
MAX_URL_LENGTH = 2000


def budget_id_for(scope_id: str) -> str:
    return f"bud_{scope_id}"


def new_endpoint_id() -> str:
    return f"whk_{uuid.uuid4().hex[:12]}"


def generate_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def webhook_errors(
    url: str, secret: str, event_types: Collection[str], known: Collection[str]
) -> list[FieldError]:
    errors = []
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        errors.append(
            FieldError("url", f"must be an absolute http(s) URL of at most {MAX_URL_LENGTH} characters")
        )
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        errors.append(
            FieldError(
                "secret", f"must have {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters (or be left out)"
            )
        )
    errors += [
        FieldError(
            "event_types", f"{event_type!r} is not a billing event type; known: {', '.join(sorted(known))}"
        )
        for event_type in sorted(set(event_types) - set(known))
    ]
    return errors
