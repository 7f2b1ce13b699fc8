"""Rollup windows: readings aggregated per minute, hour and day (UTC).

A cell is one (tenant, project, meter, GPU model, window start) at one grain; it keeps the sum, the
count, the max and the latest value of its readings. Each aggregation merges in any order with the
same result (latest is the value of the latest reading; on equal times the larger value), so rollups
built batch by batch, in whatever order batches commit, equal rollups rebuilt from the raw events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pricing.periods import as_utc
from services.metering.usage.domain.readings import Reading, UsageMeter


class Grain(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


GRAINS: tuple[Grain, ...] = (Grain.MINUTE, Grain.HOUR, Grain.DAY)


def window_start(grain: Grain, at: datetime) -> datetime:
    utc = as_utc(at)
    if grain is Grain.MINUTE:
        return utc.replace(second=0, microsecond=0)
    if grain is Grain.HOUR:
        return utc.replace(minute=0, second=0, microsecond=0)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class Aggregate:
    sum: Decimal
    count: int
    max: Decimal
    latest: Decimal
    latest_at: datetime

    def add(self, value: Decimal, at: datetime) -> None:
        self.sum += value
        self.count += 1
        if value > self.max:
            self.max = value
        if at > self.latest_at or (at == self.latest_at and value > self.latest):
            self.latest, self.latest_at = value, at

    def merge(self, other: Aggregate) -> None:
        self.sum += other.sum
        self.count += other.count
        if other.max > self.max:
            self.max = other.max
        if other.latest_at > self.latest_at or (
            other.latest_at == self.latest_at and other.latest > self.latest
        ):
            self.latest, self.latest_at = other.latest, other.latest_at


# (tenant_id, window_start, project_id, meter, gpu_model): ordered as the rollup tables' primary key.
# A plain tuple: a batch builds one per reading, and a named tuple costs several times more to make.
CellKey = tuple[str, datetime, str, UsageMeter, str]
Cells = dict[CellKey, Aggregate]


def roll_up(readings: Iterable[Reading], grain: Grain) -> Cells:
    cells: Cells = {}
    # Readings of one batch share few distinct instants: each is converted to UTC and cut to its window
    # once (datetime arithmetic costs more than the rest of a reading's aggregation).
    windows: dict[datetime, tuple[datetime, datetime]] = {}
    for reading in readings:
        window = windows.get(reading.at)
        if window is None:
            utc = as_utc(reading.at)
            window = windows[reading.at] = (utc, window_start(grain, utc))
        key = (reading.tenant_id, window[1], reading.project_id, reading.meter, reading.gpu_model)
        held = cells.get(key)
        if held is None:
            cells[key] = Aggregate(reading.value, 1, reading.value, reading.value, window[0])
        else:
            held.add(reading.value, window[0])
    return cells


def coarsen(cells: Mapping[CellKey, Aggregate], grain: Grain) -> Cells:
    """Finer cells merged into `grain` windows: the same as rolling the readings up at `grain`."""
    coarse: Cells = {}
    wider_of: dict[datetime, datetime] = {}
    for (tenant_id, start, project_id, meter, gpu_model), aggregate in cells.items():
        wider_start = wider_of.get(start)
        if wider_start is None:
            wider_start = wider_of[start] = window_start(grain, start)
        wider = (tenant_id, wider_start, project_id, meter, gpu_model)
        held = coarse.get(wider)
        if held is None:
            coarse[wider] = Aggregate(
                aggregate.sum, aggregate.count, aggregate.max, aggregate.latest, aggregate.latest_at
            )
        else:
            held.merge(aggregate)
    return coarse


def roll_up_all(readings: Iterable[Reading]) -> dict[Grain, Cells]:
    """Every grain: minutes from the readings, then hours from minutes and days from hours."""
    minutes = roll_up(readings, Grain.MINUTE)
    hours = coarsen(minutes, Grain.HOUR)
    return {Grain.MINUTE: minutes, Grain.HOUR: hours, Grain.DAY: coarsen(hours, Grain.DAY)}
