"""Rating allocation intervals and usage records into priced charges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pricing.meters import MeterName
from services.metering.domain.errors import InvalidInterval, NoPriceForModel, PriceBookNotYetKnown
from services.metering.invoicing.domain.price_books import price_book_in_effect
from services.metering.invoicing.domain.rating import billable_gpu_seconds, rate_allocation, rate_usage
from tests.unit.metering.builders import T0, at, interval, price_book, usage_window


@pytest.mark.parametrize(
    ("duration", "gpus", "expected"),
    [
        (timedelta(seconds=10), 1, 10),
        (timedelta(seconds=10, microseconds=1), 1, 11),  # a started second counts
        (timedelta(seconds=0.999999), 1, 1),
        (timedelta(0), 4, 0),
        (timedelta(hours=1, milliseconds=500), 8, 3601 * 8),
    ],
)
def test_billable_seconds_are_started_seconds_times_gpus(
    duration: timedelta, gpus: int, expected: int
) -> None:
    assert billable_gpu_seconds(T0, T0 + duration, gpus) == expected


def test_a_release_before_the_bind_is_rejected() -> None:
    with pytest.raises(InvalidInterval, match="before bound_at"):
        billable_gpu_seconds(T0, T0 - timedelta(seconds=1), 1)


def test_zero_gpus_are_rejected() -> None:
    with pytest.raises(InvalidInterval, match="gpu_count"):
        billable_gpu_seconds(T0, at(5), 0)


def test_an_allocation_is_priced_per_gpu_hour_of_its_model() -> None:
    item = rate_allocation(interval(90.2, gpu_count=2), [price_book(gpu_hour={"H100": "3.00"})], set())

    (charge,) = item.charges
    assert (charge.meter, charge.gpu_model, charge.base_quantity, charge.unit_price) == (
        MeterName.GPU_HOURS,
        "H100",
        Decimal(182),
        Decimal("3.00"),
    )
    assert item.period == item.usage_period == "2026-01"


def test_the_period_is_the_utc_month_of_the_release() -> None:
    bound = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)
    item = rate_allocation(interval(120, bound_at=bound), [price_book()], set())
    assert item.period == "2026-02"


def test_a_model_missing_from_the_price_book_names_model_and_tenant() -> None:
    with pytest.raises(NoPriceForModel) as raised:
        rate_allocation(
            interval(60, gpu_model="B200", tenant_id="acme"), [price_book(gpu_hour={"H100": "2"})], set()
        )
    assert str(raised.value) == "no price for GPU model B200 in tenant acme's price book"


def test_no_price_book_at_all_is_not_yet_known() -> None:
    with pytest.raises(PriceBookNotYetKnown):
        rate_allocation(interval(60), [], set())


def test_the_price_in_effect_at_the_interval_start_applies() -> None:
    old = price_book(effective_from=at(-3600), gpu_hour={"H100": "2"})
    new = price_book(effective_from=at(60), gpu_hour={"H100": "5"})

    started_before = rate_allocation(interval(600, bound_at=at(0)), [old, new], set())
    started_after = rate_allocation(interval(600, bound_at=at(60)), [old, new], set())

    assert started_before.charges[0].unit_price == Decimal(2)
    assert started_after.charges[0].unit_price == Decimal(5)


def test_usage_before_the_first_price_book_uses_the_first() -> None:
    first = price_book(effective_from=at(3600), gpu_hour={"H100": "7"})
    assert price_book_in_effect("acme", [first], at(0)) is first


def test_a_charge_for_a_finalized_period_goes_to_the_next_open_one() -> None:
    item = rate_allocation(interval(60), [price_book()], {"2026-01", "2026-02"})
    assert (item.usage_period, item.period) == ("2026-01", "2026-03")


def test_usage_yields_energy_token_and_request_charges() -> None:
    book = price_book(per_kwh="0.30", per_1k_tokens="0.002", per_request="0.0001")
    item = rate_usage(
        usage_window(energy_j="7200000", requests=3, input_tokens=1500, output_tokens=500), [book], set()
    )

    charges = {c.meter: (c.base_quantity, c.unit_price) for c in item.charges}
    assert charges == {
        MeterName.ENERGY_KWH: (Decimal(7_200_000), Decimal("0.30")),
        MeterName.TOKENS_1K: (Decimal(2000), Decimal("0.002")),
        MeterName.REQUESTS: (Decimal(3), Decimal("0.0001")),
    }


def test_usage_meters_with_nothing_counted_yield_no_charge() -> None:
    item = rate_usage(usage_window(requests=5), [price_book()], set())
    assert [c.meter for c in item.charges] == [MeterName.REQUESTS]


def test_fleet_usage_is_recorded_unpriced_without_a_price_book() -> None:
    item = rate_allocation(interval(60, tenant_id="_fleet"), [], {"2026-01"})
    assert item.charges[0].unit_price is None
    assert item.period == "2026-01"


def test_a_usage_window_ending_before_it_starts_is_rejected() -> None:
    window = usage_window(requests=1)
    backwards = type(window)(**{**window.__dict__, "window_end": window.window_start - timedelta(seconds=1)})
    with pytest.raises(InvalidInterval, match="window_end"):
        rate_usage(backwards, [price_book()], set())
