"""What makes a webhook endpoint acceptable, as a tenant sets it: one rule that the gateway applies at
the edge (a 422 naming each field) and metering applies to the WebhookEndpointSet it records (a dead
letter with the reason), so the two can never drift apart. Pure: the standard library and the event
catalogue only.

Where a delivery may go (not to internal addresses) is metering's to check at delivery time: DNS
answers change between the setting and the sending.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from pricing.errors import Problem
from shared.events.metering import BILLING_EVENTS

MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200
MAX_URL_LENGTH = 2000

BILLING_EVENT_TYPES: tuple[str, ...] = tuple(event_type.TYPE for event_type in BILLING_EVENTS)


def endpoint_problems(url: str, secret: str, event_types: Collection[str]) -> list[Problem]:
    """Every problem of the endpoint, each naming its field (empty when it is acceptable)."""
    problems = []
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            Problem("url", f"must be an absolute http(s) URL of at most {MAX_URL_LENGTH} characters")
        )
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        problems.append(
            Problem(
                "secret", f"must have {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters (or be left out)"
            )
        )
    known = ", ".join(sorted(BILLING_EVENT_TYPES))
    problems += [
        Problem("event_types", f"{event_type!r} is not a billing event type; known: {known}")
        for event_type in sorted(set(event_types) - set(BILLING_EVENT_TYPES))
    ]
    return problems
