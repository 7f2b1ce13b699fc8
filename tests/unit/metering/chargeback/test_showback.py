"""Chargeback and showback: idle GPU cost shared in proportion to usage, or shown on its own line."""

from __future__ import annotations

import pytest

from services.metering.chargeback.domain.showback import IdleCostMode, showback
from services.metering.domain.errors import InvalidChargebackInput
from tests.unit.metering.invoicing.builders import HOUR, d

RATE = d("2.00")  # the fleet's cost of a GPU-hour


def test_idle_cost_is_shared_in_proportion_to_usage() -> None:
    report = showback(d(100 * HOUR), {"p1": d(30 * HOUR), "p2": d(10 * HOUR)}, RATE, "USD")

    assert (report.idle_gpu_seconds, report.idle_cost, report.idle_line) == (d(60 * HOUR), d("120.00"), 0)
    assert [(p.project_id, p.usage_cost, p.idle_share, p.total) for p in report.projects] == [
        ("p1", d("60.00"), d("90.00"), d("150.00")),
        ("p2", d("20.00"), d("30.00"), d("50.00")),
    ]
    assert report.total == d("200.00")  # the whole fleet's cost: 100 GPU-hours


def test_idle_cost_shown_on_its_own_line() -> None:
    report = showback(d(100 * HOUR), {"p1": d(30 * HOUR)}, RATE, "USD", IdleCostMode.SEPARATE_LINE)

    assert report.idle_line == d("140.00")
    assert [(p.usage_cost, p.idle_share) for p in report.projects] == [(d("60.00"), 0)]
    assert report.total == d("200.00")


def test_shares_add_up_to_the_idle_cost_to_the_cent() -> None:
    # 1.00 shared three ways: 0.34 + 0.33 + 0.33, the extra cent to the lowest project id on a tie.
    report = showback(d(HOUR + 3), {"a": d(1), "b": d(1), "c": d(1)}, d("1.00"), "USD")
    assert [p.idle_share for p in report.projects] == [d("0.34"), d("0.33"), d("0.33")]
    assert sum(p.idle_share for p in report.projects) == report.idle_cost == d("1.00")


def test_usage_beyond_capacity_means_no_idle_cost_never_a_negative_one() -> None:
    report = showback(d(10 * HOUR), {"p1": d(8 * HOUR), "p2": d(4 * HOUR)}, RATE, "USD")
    assert (report.idle_gpu_seconds, report.idle_cost) == (0, d("0.00"))
    assert all(p.idle_share == 0 for p in report.projects)


def test_with_no_usage_the_idle_cost_is_its_own_line_even_when_shared() -> None:
    report = showback(d(10 * HOUR), {"p1": d(0)}, RATE, "USD", IdleCostMode.SHARED)
    assert (report.idle_line, report.projects[0].idle_share, report.total) == (d("20.00"), 0, d("20.00"))


def test_a_separate_idle_rate_prices_idle_time() -> None:
    report = showback(d(2 * HOUR), {"p1": d(HOUR)}, RATE, "USD", IdleCostMode.SEPARATE_LINE, d("0.50"))
    assert (report.projects[0].usage_cost, report.idle_line) == (d("2.00"), d("0.50"))


def test_amounts_follow_the_currency_minor_units() -> None:
    report = showback(d(3 * HOUR), {"p1": d(HOUR), "p2": d(HOUR)}, d("333"), "JPY")
    assert [p.idle_share for p in report.projects] == [d("167"), d("166")]


@pytest.mark.parametrize(
    ("capacity", "used", "problem"),
    [
        ("-1", "1", "capacity_gpu_seconds is -1"),
        ("10", "-5", r"used_gpu_seconds\[p1\] is -5"),
        ("NaN", "1", "NaN"),
    ],
)
def test_negative_or_invalid_inputs_are_named(capacity: str, used: str, problem: str) -> None:
    with pytest.raises(InvalidChargebackInput, match=problem):
        showback(d(capacity), {"p1": d(used)}, RATE, "USD")
