"""Budgets and webhook endpoints as tenants set them: identifiers and the rules their input must meet.

A budget belongs to its scope (a project, or a tenant's whole spend): one per scope, so its id is the
scope's. Metering keeps and tracks both; the gateway checks the input and who may set it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection, Sequence
from decimal import Decimal
from urllib.parse import urlsplit

from services.gateway.domain.errors import FieldError

MAX_THRESHOLDS = 10
MAX_THRESHOLD_PERCENT = Decimal(1000)
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200
MAX_URL_LENGTH = 2000


def budget_id_for(scope_id: str) -> str:
    return f"bud_{scope_id}"


def new_endpoint_id() -> str:
    return f"whk_{uuid.uuid4().hex[:12]}"


def generate_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def budget_errors(amount: Decimal, thresholds_percent: Sequence[Decimal]) -> list[FieldError]:
    errors = []
    if not amount.is_finite() or amount <= 0:
        errors.append(FieldError("amount", f"must be a positive amount, not {amount}"))
    if len(thresholds_percent) > MAX_THRESHOLDS:
        errors.append(FieldError("thresholds_percent", f"at most {MAX_THRESHOLDS} thresholds"))
    errors += [
        FieldError(f"thresholds_percent.{i}", f"must be a percentage above 0 and at most 1000, not {t}")
        for i, t in enumerate(thresholds_percent)
        if not t.is_finite() or not 0 < t <= MAX_THRESHOLD_PERCENT
    ]
    if len(set(thresholds_percent)) != len(thresholds_percent):
        errors.append(FieldError("thresholds_percent", "thresholds repeat"))
    return errors


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
