"""Billing periods: calendar months in UTC, written "YYYY-MM"."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from pricing.errors import InvalidPeriod, Problem, raise_problems

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def as_utc(moment: datetime) -> datetime:
    """A naive time is taken to be UTC already (the platform writes every time in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def period_of(moment: datetime) -> str:
    """The billing period a moment falls in."""
    utc = as_utc(moment)
    return f"{utc.year:04d}-{utc.month:02d}"


def period_problems(period: str, field: str = "period") -> list[Problem]:
    if _PERIOD.match(period):
        return []
    return [Problem(field, f"{period!r} is not a billing period, a calendar month written YYYY-MM")]


def validate_period(period: str, field: str = "period") -> str:
    raise_problems(period_problems(period, field), InvalidPeriod)
    return period


def next_period(period: str) -> str:
    year, month = (int(part) for part in validate_period(period).split("-"))
    return f"{year + 1:04d}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """The period's first instant and the first instant of the next one (UTC): [start, end)."""
    year, month = (int(part) for part in validate_period(period).split("-"))
    next_year, next_month = (int(part) for part in next_period(period).split("-"))
    return datetime(year, month, 1, tzinfo=UTC), datetime(next_year, next_month, 1, tzinfo=UTC)


def last_instant(period: str) -> datetime:
    """The period's last microsecond: the moment whose price-book version governs period-wide terms."""
    return period_bounds(period)[1] - timedelta(microseconds=1)


def open_period(natural: str, finalized: Collection[str]) -> str:
    """The period a charge is billed in: its own, or the first later one whose invoice is not finalized.

    A charge that arrives after its month's invoice was finalized lands on the next open draft
    (as an ordinary line for now; dedicated adjustment lines are a later feature).
    """
    period = validate_period(natural)
    while period in finalized:
        period = next_period(period)
    return period
