"""Rollup windows: minute, hour and day cells in UTC, and aggregates that merge in any order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.metering.usage.domain.readings import Reading, UsageMeter
from services.metering.usage.domain.rollups import (
    Aggregate,
    Cells,
    Grain,
    coarsen,
    roll_up,
    roll_up_all,
    window_start,
)
from tests.unit.metering.usage.builders import T0

ENERGY = UsageMeter.ENERGY_J


def reading(value: str, at: datetime, *, project: str = "p1", meter: UsageMeter = ENERGY) -> Reading:
    return Reading("acme", project, meter, "H100", Decimal(value), at)


@pytest.mark.parametrize(
    ("grain", "expected"),
    [
        (Grain.MINUTE, datetime(2026, 3, 10, 23, 59, tzinfo=UTC)),
        (Grain.HOUR, datetime(2026, 3, 10, 23, 0, tzinfo=UTC)),
        (Grain.DAY, datetime(2026, 3, 10, tzinfo=UTC)),
    ],
)
def test_windows_are_cut_in_utc_whatever_the_offset(grain: Grain, expected: datetime) -> None:
    # 01:59:30 in India (+05:30) is 20:29:30 UTC; 23:59:30.5 UTC is the same as written in +00:00.
    assert window_start(grain, datetime(2026, 3, 10, 23, 59, 30, 500_000, tzinfo=UTC)) == expected
    india = timezone(timedelta(hours=5, minutes=30))
    assert window_start(Grain.HOUR, datetime(2026, 3, 11, 1, 59, 30, tzinfo=india)) == datetime(
        2026, 3, 10, 20, 0, tzinfo=UTC
    )


def test_a_cell_keeps_sum_count_max_and_the_latest_value() -> None:
    cells = roll_up(
        [
            reading("5", T0 + timedelta(seconds=50)),
            reading("9", T0 + timedelta(seconds=10)),
            reading("2", T0 + timedelta(seconds=59)),
        ],
        Grain.MINUTE,
    )
    ((key, cell),) = cells.items()
    assert key == ("acme", T0, "p1", ENERGY, "H100")
    assert (cell.sum, cell.count, cell.max, cell.latest, cell.latest_at) == (
        Decimal(16),
        3,
        Decimal(9),
        Decimal(2),
        T0 + timedelta(seconds=59),
    )


def test_on_equal_times_the_larger_value_is_the_latest_so_order_does_not_matter() -> None:
    one, other = reading("3", T0), reading("7", T0)
    for readings in ([one, other], [other, one]):
        (cell,) = roll_up(readings, Grain.MINUTE).values()
        assert cell.latest == Decimal(7)


def test_cells_are_per_project_meter_and_window() -> None:
    cells = roll_up(
        [
            reading("1", T0),
            reading("1", T0, project="p2"),
            reading("1", T0, meter=UsageMeter.REQUESTS),
            reading("1", T0 + timedelta(minutes=1)),
        ],
        Grain.MINUTE,
    )
    assert len(cells) == 4


def random_readings(rng: random.Random, count: int) -> list[Reading]:
    return [
        reading(
            str(Decimal(rng.randint(0, 10_000)) / 100),
            T0 + timedelta(seconds=rng.randint(0, 3 * 86_400), microseconds=rng.choice((0, 1, 999_999))),
            project=rng.choice(("p1", "p2")),
            meter=rng.choice((ENERGY, UsageMeter.GPU_UTILIZATION)),
        )
        for _ in range(count)
    ]


def as_tuples(cells: Cells) -> dict[tuple, tuple]:  # type: ignore[type-arg]
    return {key: (c.sum, c.count, c.max, c.latest, c.latest_at) for key, c in cells.items()}


@pytest.mark.parametrize("seed", range(5))
def test_coarsened_minutes_equal_readings_rolled_up_at_the_coarser_grain(seed: int) -> None:
    readings = random_readings(random.Random(seed), 400)
    minutes = roll_up(readings, Grain.MINUTE)
    for grain in (Grain.HOUR, Grain.DAY):
        assert as_tuples(coarsen(minutes, grain)) == as_tuples(roll_up(readings, grain))
    assert {g: as_tuples(c) for g, c in roll_up_all(readings).items()} == {
        g: as_tuples(roll_up(readings, g)) for g in Grain
    }


@pytest.mark.parametrize("seed", range(5))
def test_batches_merged_in_any_order_equal_one_roll_up(seed: int) -> None:
    rng = random.Random(seed)
    readings = random_readings(rng, 300)
    batches = [readings[i : i + 37] for i in range(0, len(readings), 37)]
    rng.shuffle(batches)
    merged: dict[tuple, Aggregate] = {}  # type: ignore[type-arg]
    for batch in batches:
        for key, cell in roll_up(batch, Grain.HOUR).items():
            if key in merged:
                merged[key].merge(cell)
            else:
                merged[key] = cell
    assert as_tuples(merged) == as_tuples(roll_up(readings, Grain.HOUR))
