"""Samples held too long: a sample waits in `held_samples` for the release of an allocation it may
belong to (allocations.unsettled); when ingest never hears that release (nor, so, the binding it
follows), the sample would wait forever. Past the retention it is dead-lettered with the reason, so an
operator sees it and nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from shared.events.agent import UsageSampled

# The dead letters' consumer name: no durable has it, it names the task that wrote them.
HELD_SAMPLES_CONSUMER = "ingest-held-samples"


@dataclass(frozen=True)
class ExpiredHold:
    """A sample no longer held, with every allocation it still waited for."""

    sample_event_id: UUID
    body: str  # the sample as the bus carried it (UsageSampled's JSON)
    waiting_for: Sequence[str]
    held_at: datetime


@dataclass(frozen=True)
class HeldDeadLetter:
    subject: str
    payload: bytes
    headers: dict[str, str]
    reason: str


def held_before(now: datetime, retention_s: float) -> datetime:
    """Samples held before this instant have waited longer than the retention."""
    return now - timedelta(seconds=retention_s)


def expiry_reason(hold: ExpiredHold, retention_s: float) -> str:
    allocations = ", ".join(hold.waiting_for)
    return (
        f"sample held since {hold.held_at.isoformat()}, longer than the held-sample retention "
        f"({retention_s:g}s), waiting for the release of allocation(s) {allocations}: ingest never heard "
        "them released (or bound)"
    )


def dead_letter_of(hold: ExpiredHold, retention_s: float) -> HeldDeadLetter:
    """The dead letter as the sample's own message: its subject, body and CloudEvents headers."""
    reason = expiry_reason(hold, retention_s)
    payload = hold.body.encode()
    try:
        sample = UsageSampled.model_validate_json(hold.body)
    except ValueError:
        # A body an older version held that no longer parses must still go, or it would fail every
        # round: it is kept as it was, under the subject's pattern and its event id.
        headers = {"ce-id": str(hold.sample_event_id), "ce-type": UsageSampled.TYPE}
        return HeldDeadLetter(UsageSampled.subject_filter(), payload, headers, reason)
    return HeldDeadLetter(sample.subject(), payload, sample.headers(), reason)
