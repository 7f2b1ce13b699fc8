"""Building invoices from rated charges: lines, one rounding per line, currencies, totals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.metering.domain.errors import UnknownCurrency
from services.metering.domain.invoice import InvoiceStatus, build_invoice
from services.metering.domain.meters import MeterName
from services.metering.domain.money import round_money
from services.metering.domain.rating import Charge, rate_allocation, rate_usage
from tests.unit.metering.builders import at, interval, price_book, usage_window


def gpu_charge(seconds: int, price: str, project: str = "p1", model: str = "H100", when: float = 0) -> Charge:
    return Charge(project, MeterName.GPU_HOURS, Decimal(seconds), Decimal(price), at(when), model)


def test_intervals_of_one_project_and_model_make_one_line() -> None:
    book = price_book(gpu_hour={"H100": "2.50"})
    items = [
        rate_allocation(interval(s, gpu_count=n), [book], set()) for s, n in [(3600, 1), (1800, 2), (0.5, 1)]
    ]

    invoice = build_invoice("acme", "2026-01", "USD", [c for item in items for c in item.charges])

    (line,) = invoice.lines
    assert line.quantity == Decimal(7201) / Decimal(3600)
    assert (line.meter, line.gpu_model, line.unit, line.unit_price) == (
        MeterName.GPU_HOURS,
        "H100",
        "GPU-hour",
        Decimal("2.50"),
    )
    assert line.amount == Decimal("5.00")  # 7201 s x 2.50 / 3600 = 5.000694...
    assert invoice.total == Decimal("5.00")
    assert invoice.invoice_id == "inv_acme_2026-01"
    assert invoice.status is InvoiceStatus.DRAFT


def test_the_amount_is_rounded_once_per_line_not_per_interval() -> None:
    # Each 18 s at 1.00/h is 0.005: rounded per interval that would be 0.01 x 3 = 0.03.
    charges = [gpu_charge(18, "1.00") for _ in range(3)]
    (line,) = build_invoice("acme", "2026-01", "USD", charges).lines
    assert line.amount == Decimal("0.02")  # 54 s = 0.015 -> half up


def test_rounding_is_half_up_to_the_currency_minor_units() -> None:
    assert round_money(Decimal("0.125"), "USD") == Decimal("0.13")
    assert round_money(Decimal("0.125"), "EUR") == Decimal("0.13")
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")


def test_a_zero_decimal_currency_invoice_has_whole_amounts() -> None:
    charges = [gpu_charge(5400, "333"), gpu_charge(600, "410", model="A100")]
    invoice = build_invoice("acme", "2026-01", "JPY", charges)

    amounts = {line.gpu_model: line.amount for line in invoice.lines}
    assert amounts == {"A100": Decimal("68"), "H100": Decimal("500")}  # 68.33 -> 68, 499.5 -> 500
    assert invoice.total == Decimal("568")
    assert invoice.total.as_tuple().exponent == 0


def test_a_line_with_mixed_prices_sums_each_part_and_shows_the_latest_price() -> None:
    charges = [gpu_charge(3600, "2.00", when=0), gpu_charge(1800, "3.00", when=7200)]
    (line,) = build_invoice("acme", "2026-01", "USD", charges).lines
    assert line.quantity == Decimal("1.5")
    assert line.amount == Decimal("3.50")
    assert line.unit_price == Decimal("3.00")


def test_lines_per_project_meter_and_model_and_the_total_is_their_sum() -> None:
    book = price_book(
        gpu_hour={"H100": "2.50", "A100": "1.10"}, per_kwh="0.25", per_1k_tokens="0.01", per_request="0.001"
    )
    items = [
        rate_allocation(interval(3600, project_id="p1"), [book], set()),
        rate_allocation(interval(1000, project_id="p1", gpu_model="A100"), [book], set()),
        rate_allocation(interval(7200, project_id="p2"), [book], set()),
        rate_usage(
            usage_window(project_id="p1", energy_j="5400000", input_tokens=700, output_tokens=800),
            [book],
            set(),
        ),
        rate_usage(usage_window(project_id="p2", requests=1234), [book], set()),
    ]
    invoice = build_invoice("acme", "2026-01", "USD", [c for item in items for c in item.charges])

    summary = [
        (ln.project_id, ln.meter.value, ln.gpu_model, ln.quantity, ln.unit, ln.amount) for ln in invoice.lines
    ]
    assert summary == [
        ("p1", "gpu_hours", "A100", Decimal(1000) / Decimal(3600), "GPU-hour", Decimal("0.31")),
        ("p1", "gpu_hours", "H100", Decimal(1), "GPU-hour", Decimal("2.50")),
        ("p1", "energy_kwh", None, Decimal("1.5"), "kWh", Decimal("0.38")),
        ("p1", "tokens_1k", None, Decimal("1.5"), "1k tokens", Decimal("0.02")),
        ("p2", "gpu_hours", "H100", Decimal(2), "GPU-hour", Decimal("5.00")),
        ("p2", "requests", None, Decimal(1234), "requests", Decimal("1.23")),
    ]
    assert invoice.total == sum(line.amount for line in invoice.lines) == Decimal("9.44")


def test_lines_with_zero_quantity_are_left_out_but_zero_prices_stay() -> None:
    charges = [
        gpu_charge(0, "2.50"),
        Charge("p1", MeterName.ENERGY_KWH, Decimal(3_600_000), Decimal(0), at(0)),
    ]
    invoice = build_invoice("acme", "2026-01", "USD", charges)
    assert [(line.meter, line.amount) for line in invoice.lines] == [(MeterName.ENERGY_KWH, Decimal("0.00"))]
    assert invoice.total == Decimal("0.00")


def test_fleet_charges_cannot_be_invoiced() -> None:
    item = rate_allocation(interval(60, tenant_id="_fleet"), [], set())
    with pytest.raises(ValueError, match="unpriced"):
        build_invoice("_fleet", "2026-01", "USD", item.charges)


def test_an_unknown_currency_is_named() -> None:
    with pytest.raises(UnknownCurrency, match="'XYZ'"):
        build_invoice("acme", "2026-01", "XYZ", [gpu_charge(60, "1")])
