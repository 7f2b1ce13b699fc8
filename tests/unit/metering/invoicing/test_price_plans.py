"""Price plans: per unit, graduated and volume tiers, packages; their validation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pricing.errors import InvalidPrice
from pricing.meters import MeterName
from pricing.price_plans import PerUnit, Tier, Tiered, plan_cost, reference_unit_price
from tests.unit.metering.invoicing.builders import book, d, graduated, package, volume

TIERS = (("100", "3.00"), ("500", "2.50"), (None, "2.00"))


def test_per_unit_is_quantity_times_price() -> None:
    assert plan_cost(PerUnit(d("2.50")), d("1.5")) == d("3.750")


def test_graduated_tiers_price_each_unit_at_its_own_tier() -> None:
    # 100 x 3.00 + 400 x 2.50 + 100 x 2.00
    assert plan_cost(graduated(*TIERS), d(600)) == d("1500.00")


def test_volume_tiers_price_every_unit_at_the_tier_reached() -> None:
    assert plan_cost(volume(*TIERS), d(600)) == d("1200.00")
    assert plan_cost(volume(*TIERS), d(100)) == d("300.00")  # the bound is inclusive


def test_volume_pricing_can_make_more_units_cheaper() -> None:
    assert plan_cost(volume(*TIERS), d(101)) < plan_cost(volume(*TIERS), d(100))


def test_graduated_flat_fees_are_charged_once_per_tier_entered() -> None:
    plan = graduated(("10", "1.00"), (None, "0.50"), fees=("5", "20"))
    assert plan_cost(plan, d(4)) == d("9.00")  # 4 x 1.00 + 5
    assert plan_cost(plan, d(12)) == d("36.00")  # 10 + 5 + 2 x 0.50 + 20


def test_volume_flat_fee_is_the_reached_tiers_only() -> None:
    plan = volume(("10", "1.00"), (None, "0.50"), fees=("5", "20"))
    assert plan_cost(plan, d(12)) == d("26.00")


def test_a_partial_package_costs_a_whole_block() -> None:
    plan = package("1000", "1.50")
    assert plan_cost(plan, d("1000")) == d("1.50")
    assert plan_cost(plan, d("1000.001")) == d("3.00")
    assert plan_cost(plan, d("1")) == d("1.50")


def test_zero_quantity_costs_nothing_not_even_a_fee() -> None:
    assert plan_cost(graduated(("10", "1"), (None, "1"), fees=("5",)), d(0)) == 0
    assert plan_cost(package("100", "9"), d(0)) == 0


def test_reference_prices_show_the_first_tier_or_the_block_price_per_unit() -> None:
    assert reference_unit_price(graduated(*TIERS)) == d("3.00")
    assert reference_unit_price(package("1000", "1.50")) == d("0.0015")


def test_a_price_book_uses_its_plan_over_the_per_unit_price() -> None:
    tiered = graduated(*TIERS)
    priced = book(gpu_hour={"H100": "9.99"}, plans={(MeterName.GPU_HOURS, "H100"): tiered})
    assert priced.plan_for(MeterName.GPU_HOURS, "H100") == tiered
    assert priced.plan_for(MeterName.REQUESTS, None) == PerUnit(d(0))


def test_a_gpu_model_priced_only_by_a_plan_has_a_price() -> None:
    priced = book(gpu_hour={}, plans={(MeterName.GPU_HOURS, "B200"): graduated(*TIERS)})
    assert priced.gpu_hour_price("B200") == d("3.00")


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        (Tiered(()), "tiers: a tiered plan needs at least one tier"),
        (graduated(("100", "1"), ("50", "1"), (None, "1")), r"tiers\[1\].up_to: must be above 100"),
        (graduated(("100", "1"), ("200", "1")), r"tiers\[1\].up_to: the last tier has no upper bound"),
        (
            graduated((None, "1"), (None, "1")),
            r"tiers\[0\].up_to: only the last tier may have no upper bound",
        ),
        (
            graduated(("10", "-1"), (None, "1")),
            r"tiers\[0\].unit_price: must be a finite amount of 0 or more, not -1",
        ),
        (
            Tiered((Tier(None, d(1), d(-2)),)),
            r"tiers\[0\].flat_fee: must be a finite amount of 0 or more, not -2",
        ),
        (package("0", "1"), "block_size: must be a positive quantity"),
        (package("10", "-1"), "block_price: must be a finite amount of 0 or more, not -1"),
    ],
)
def test_a_bad_plan_is_rejected_naming_what_is_wrong(plan: Tiered, problem: str) -> None:
    with pytest.raises(InvalidPrice, match=rf"plans\[gpu_hours/H100\].*{problem}"):
        book(plans={(MeterName.GPU_HOURS, "H100"): plan})


def test_a_gpu_plan_without_a_model_is_rejected() -> None:
    base = book()
    with pytest.raises(InvalidPrice, match="needs a GPU model"):
        replace(base, plans={(MeterName.GPU_HOURS, None): PerUnit(d(1))}).validated()
