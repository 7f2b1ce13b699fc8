"""Which usage times ingest accepts: not too far ahead of its clock, not older than the retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TimeLimits:
    max_future_skew_s: float = 300.0
    max_age_s: float = 7 * 86_400.0

    def oldest_accepted(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.max_age_s)


def time_problem(at: datetime, now: datetime, limits: TimeLimits) -> str | None:
    """Why `at` is not an acceptable usage time at `now`, or None when it is."""
    ahead_s = (at - now).total_seconds()
    if ahead_s > limits.max_future_skew_s:
        return (
            f"time {at.isoformat()} is {ahead_s:.0f}s in the future "
            f"(at most {limits.max_future_skew_s:.0f}s of clock skew is accepted)"
        )
    age_s = -ahead_s
    if age_s > limits.max_age_s:
        return (
            f"time {at.isoformat()} is {age_s:.0f}s old (usage older than {limits.max_age_s:.0f}s is refused)"
        )
    return None
