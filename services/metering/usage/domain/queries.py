"""Usage queries over the rollups: one tenant's usage in a date range, per window of one grain and per
meter, optionally per project and GPU model. Validated into one object; every problem is collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from services.metering.domain.errors import RejectedInput
from services.metering.usage.domain.readings import UsageMeter
from services.metering.usage.domain.rollups import Grain

E = TypeVar("E", bound=StrEnum)


class Dimension(StrEnum):
    PROJECT = "project"
    GPU_MODEL = "gpu_model"


# The widest range per grain, which bounds the rows one query returns.
MAX_DAYS: dict[Grain, int] = {Grain.DAY: 366, Grain.HOUR: 31, Grain.MINUTE: 2}


class InvalidUsageQuery(RejectedInput):
    code = "invalid_usage_query"

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = list(problems)  # (parameter, what is wrong)


@dataclass(frozen=True)
class UsageQuery:
    tenant_id: str
    start: date  # first day, UTC
    end: date  # the day after the last, UTC
    grain: Grain = Grain.DAY
    group_by: tuple[Dimension, ...] = (Dimension.PROJECT, Dimension.GPU_MODEL)
    meters: tuple[UsageMeter, ...] = ()  # none: every meter
    project_id: str | None = None


@dataclass(frozen=True)
class UsageRow:
    window_start: datetime
    project_id: str | None  # None when not grouped by project
    gpu_model: str | None  # None when not grouped by GPU model; "" for usage without a GPU model
    meter: UsageMeter
    sum: Decimal
    count: int
    max: Decimal
    latest: Decimal
    latest_at: datetime


def usage_query(
    tenant_id: str,
    start: date,
    end: date,
    *,
    grain: str = "day",
    group_by: str = "project,gpu_model",
    meters: Sequence[str] = (),
    project_id: str | None = None,
) -> UsageQuery:
    """The query, or InvalidUsageQuery naming every parameter that is wrong."""
    problems: list[tuple[str, str]] = []
    if not tenant_id.strip():
        problems.append(("tenant_id", "must not be empty"))
    parsed_grain = _member(Grain, grain, "grain", problems) or Grain.DAY
    dimensions = [
        _member(Dimension, part.strip(), "group_by", problems) for part in group_by.split(",") if part.strip()
    ]
    parsed_meters = [_member(UsageMeter, meter, "meter", problems) for meter in meters]
    if end <= start:
        problems.append(("end", f"{end.isoformat()} must be after start {start.isoformat()}"))
    elif end - start > timedelta(days=MAX_DAYS[parsed_grain]):
        problems.append(
            ("end", f"at most {MAX_DAYS[parsed_grain]} days of {parsed_grain.value} windows per query")
        )
    if problems:
        raise InvalidUsageQuery(problems)
    return UsageQuery(
        tenant_id=tenant_id,
        start=start,
        end=end,
        grain=parsed_grain,
        group_by=tuple(dict.fromkeys(d for d in dimensions if d is not None)),
        meters=tuple(dict.fromkeys(m for m in parsed_meters if m is not None)),
        project_id=project_id or None,
    )


def _member(kind: type[E], value: str, name: str, problems: list[tuple[str, str]]) -> E | None:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        problems.append((name, f"unknown {name} {value!r}: expected one of {choices}"))
        return None
