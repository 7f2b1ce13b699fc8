"""What metering refuses in usage that the event contracts cannot see: times against its clock.

The contracts already refuse negative quantities (energy, requests, tokens, utilization outside 0..100):
such a message fails to parse and is dead-lettered with the field that is wrong. Here:

1. A usage record whose window ends before it starts.
2. A billing moment (window_end of a record, released_at of an allocation) further ahead of metering's
   clock than the accepted skew: a clock gone wrong, which would bill a period that has not begun.
3. A billing moment older than the grace period for late usage: its invoice is long settled, and
   re-opening it (or billing it silently on today's invoice) would surprise the tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pricing.periods import as_utc
from services.metering.domain.errors import RejectedInput
from shared.events.ingest import UsageRecorded

DAY_S = 86_400


class UsageRejected(RejectedInput):
    code = "usage_rejected"


@dataclass(frozen=True)
class UsageLimits:
    max_future_skew_s: float = 300.0
    # The previous month and a few days to close it.
    grace_s: float = 35 * DAY_S


def time_problem(what: str, at: datetime, now: datetime, limits: UsageLimits) -> str | None:
    """Why `what` at `at` is not an acceptable billing moment at `now`, or None when it is."""
    ahead = as_utc(at) - as_utc(now)
    if ahead > timedelta(seconds=limits.max_future_skew_s):
        return (
            f"{what} {at.isoformat()} is {ahead.total_seconds():.0f}s in the future "
            f"(at most {limits.max_future_skew_s:.0f}s of clock skew is accepted)"
        )
    if -ahead > timedelta(seconds=limits.grace_s):
        return (
            f"{what} {at.isoformat()} is older than the grace period for late usage "
            f"({limits.grace_s / DAY_S:g} days)"
        )
    return None


def record_problem(record: UsageRecorded, now: datetime, limits: UsageLimits) -> str | None:
    """Why this usage record is refused, or None. The reason names the record and what is wrong."""
    problem = _problem(record, now, limits, {})
    return None if problem is None else f"{_name(record)}: {problem}"


def sort_out(
    records: Iterable[UsageRecorded], now: datetime, limits: UsageLimits
) -> tuple[list[UsageRecorded], list[tuple[UsageRecorded, str]]]:
    """(accepted records, [(refused record, reason)]), in order."""
    accepted: list[UsageRecorded] = []
    refused: list[tuple[UsageRecorded, str]] = []
    problem_at: dict[datetime, str | None] = {}  # a batch shares few distinct window ends
    for record in records:
        problem = _problem(record, now, limits, problem_at)
        if problem is None:
            accepted.append(record)
        else:
            refused.append((record, f"{_name(record)}: {problem}"))
    return accepted, refused


def _problem(
    record: UsageRecorded, now: datetime, limits: UsageLimits, problem_at: dict[datetime, str | None]
) -> str | None:
    end = record.window_end
    if end < record.window_start:
        return f"window_end {end.isoformat()} is before window_start {record.window_start.isoformat()}"
    if end not in problem_at:
        problem_at[end] = time_problem("window_end", end, now, limits)
    return problem_at[end]


def _name(record: UsageRecorded) -> str:
    return f"usage {record.source}:{record.source_event_id} of tenant {record.tenant_id}"
