"""Rebuilding rollups from the raw events: the check that what the pipeline accumulated batch by batch
is what the kept events say, and the way back should a rollup table be lost or its rules change.

Events are selected by their billing moment (window_end of a record, released_at of an allocation),
the instant that places their readings, so a range of whole windows is rebuilt whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.metering.invoicing.app.rating import allocation_interval
from services.metering.usage.domain.readings import Reading, allocation_readings, record_readings
from services.metering.usage.domain.rollups import Cells, Grain, roll_up_all
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased


@dataclass(frozen=True)
class RebuildRange:
    tenant_id: str
    start: datetime  # inclusive; a window boundary of the coarsest grain compared (a UTC midnight)
    end: datetime  # exclusive; likewise


class UsageArchive(Protocol):
    async def usage_records(self, within: RebuildRange) -> Sequence[UsageRecorded]: ...

    async def allocations(self, within: RebuildRange) -> Sequence[AllocationReleased]: ...

    async def stored_cells(self, grain: Grain, within: RebuildRange) -> Cells: ...


async def rebuild_rollups(archive: UsageArchive, within: RebuildRange) -> dict[Grain, Cells]:
    readings: list[Reading] = []
    for record in await archive.usage_records(within):
        readings.extend(record_readings(record))
    for event in await archive.allocations(within):
        readings.extend(allocation_readings(allocation_interval(event)))
    return roll_up_all(readings)


async def rollup_differences(archive: UsageArchive, within: RebuildRange) -> list[str]:
    """Each cell where the stored rollups and those rebuilt from the raw events disagree; [] when none."""
    differences: list[str] = []
    for grain, rebuilt in (await rebuild_rollups(archive, within)).items():
        stored = await archive.stored_cells(grain, within)
        for key in sorted(rebuilt.keys() | stored.keys()):
            want, have = rebuilt.get(key), stored.get(key)
            if want != have:  # Aggregate compares its numbers by value: 400 == 400.000
                differences.append(f"{grain.value} {key}: stored {have}, rebuilt {want}")
    return differences
