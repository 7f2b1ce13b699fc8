"""Fractional GPU shares billed by rule 1: started seconds x GPUs x share, exact, rounded once per line."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from pricing.money import QUANTITY
from services.metering.domain.errors import InvalidInterval
from services.metering.invoicing.app.rating import allocation_interval
from services.metering.invoicing.domain.invoice_pricing import rebuild_invoice
from services.metering.invoicing.domain.rating import (
    AllocationInterval,
    billable_share_seconds,
    rate_allocation,
)
from services.metering.usage.domain.readings import UsageMeter, allocation_readings
from tests.unit.metering.builders import interval, price_book
from tests.unit.metering.usage.builders import released

HALF = Decimal("0.5")


def shared(seconds: float, share: str, **fields: object) -> AllocationInterval:
    return replace(interval(seconds, **fields), gpu_share=Decimal(share))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "share", "expected"),
    [
        (10, "0.5", Decimal(5)),
        (10.2, "0.5", Decimal("5.5")),  # a started second counts, then the share: 11 x 0.5
        (7, "0.333", Decimal("2.331")),
        (7, "1", Decimal(7)),
        (0, "0.25", Decimal(0)),
    ],
)
def test_billable_gpu_seconds_are_started_seconds_times_the_share(
    seconds: float, share: str, expected: Decimal
) -> None:
    assert billable_share_seconds(shared(seconds, share)) == expected


@pytest.mark.parametrize("share", ["0", "-0.5", "1.5", "NaN"])
def test_a_share_outside_zero_to_one_is_rejected(share: str) -> None:
    with pytest.raises(InvalidInterval, match="gpu_share"):
        billable_share_seconds(shared(10, share))


def test_a_half_gpu_allocation_is_charged_half_its_gpu_seconds_unrounded() -> None:
    item = rate_allocation(shared(3, "0.5"), [price_book(gpu_hour={"H100": "3.00"})], set())

    (charge,) = item.charges
    assert (charge.base_quantity, charge.unit_price, charge.gpu_model) == (
        Decimal("1.5"),
        Decimal("3.00"),
        "H100",
    )


def test_half_shares_are_rounded_once_on_their_invoice_line_not_one_by_one() -> None:
    # 36.00 per GPU-hour is 0.01 per GPU-second: each half-second costs 0.005, which alone would round
    # up to 0.01 (three of them 0.03); summed first, 1.5 GPU-seconds cost 0.015, rounded once to 0.02.
    book = price_book(gpu_hour={"H100": "36.00"})
    items = [rate_allocation(shared(1, "0.5"), [book], set()) for _ in range(3)]

    invoice = rebuild_invoice(items, [book], "2026-01", tenant_id="acme", currency="USD")

    (line,) = invoice.lines
    assert line.quantity == QUANTITY.divide(Decimal("1.5"), Decimal(3600))  # GPU-hours
    assert (line.amount, invoice.total) == (Decimal("0.02"), Decimal("0.02"))


def test_a_released_event_carries_its_share_into_billing_and_the_usage_rollups() -> None:
    event = released(10.2, gpu_model="A100").model_copy(update={"gpu_share": HALF})

    item = rate_allocation(allocation_interval(event), [price_book(gpu_hour={"A100": "3.60"})], set())
    (reading,) = allocation_readings(allocation_interval(event))

    assert item.charges[0].base_quantity == Decimal("5.5")
    assert (reading.meter, reading.gpu_model, reading.value) == (
        UsageMeter.GPU_SECONDS,
        "A100",
        Decimal("5.5"),
    )


def test_an_event_without_a_share_is_billed_as_whole_gpus() -> None:
    event = released(10, gpu_count=2)

    assert allocation_interval(event).gpu_share == 1
    assert billable_share_seconds(allocation_interval(event)) == Decimal(20)
