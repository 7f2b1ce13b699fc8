"""Usage queries: one validated object, every bad parameter named at once."""

from __future__ import annotations

from datetime import date

import pytest

from services.metering.usage.domain.queries import Dimension, InvalidUsageQuery, usage_query
from services.metering.usage.domain.readings import UsageMeter
from services.metering.usage.domain.rollups import Grain

NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)


def test_a_month_by_project_gpu_model_and_day_is_the_default() -> None:
    query = usage_query("acme", NOV, DEC)
    assert (query.grain, query.group_by, query.meters, query.project_id) == (
        Grain.DAY,
        (Dimension.PROJECT, Dimension.GPU_MODEL),
        (),
        None,
    )


def test_meters_grouping_and_grain_are_parsed() -> None:
    query = usage_query(
        "acme", NOV, date(2026, 11, 3), grain="hour", group_by="gpu_model", meters=["energy_j", "energy_j"]
    )
    assert (query.grain, query.group_by, query.meters) == (
        Grain.HOUR,
        (Dimension.GPU_MODEL,),
        (UsageMeter.ENERGY_J,),
    )


def test_every_problem_is_named() -> None:
    with pytest.raises(InvalidUsageQuery) as raised:
        usage_query(" ", DEC, NOV, grain="week", group_by="project,node", meters=["watts"])
    assert [name for name, _ in raised.value.problems] == ["tenant_id", "grain", "group_by", "meter", "end"]
    assert "unknown grain 'week': expected one of minute, hour, day" in str(raised.value)


def test_the_range_is_bounded_per_grain() -> None:
    usage_query("acme", NOV, date(2026, 11, 3), grain="minute")
    with pytest.raises(InvalidUsageQuery, match="at most 2 days of minute windows"):
        usage_query("acme", NOV, date(2026, 11, 4), grain="minute")
