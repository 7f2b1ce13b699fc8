"""Invoices priced with plans: tenant-wide tiers split among projects, versions, one rounding per line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pricing.meters import MeterName
from services.metering.domain.errors import DuplicateSource, ForeignTenantItem, NoPriceForModel
from services.metering.invoicing.domain.invoice import LineKind
from tests.unit.metering.invoicing.builders import (
    HOUR,
    JAN,
    book,
    d,
    gpu_item,
    graduated,
    invoice,
    package,
    request_item,
    volume,
)

H100 = (MeterName.GPU_HOURS, "H100")


def test_per_unit_pricing_bills_quantity_times_price_rounded_once_per_line() -> None:
    books = [book(gpu_hour={"H100": "2.50", "A100": "1.10"}, per_request="0.001")]
    items = [
        gpu_item(7201, books),
        gpu_item(1000, books, gpu_model="A100", project_id="p2"),
        request_item(1234, books, project_id="p2"),
    ]
    engine = invoice(items, books)

    assert [(ln.project_id, ln.meter, ln.gpu_model, ln.quantity, ln.amount) for ln in engine.lines] == [
        ("p1", "gpu_hours", "H100", d(7201) / d(3600), d("5.00")),
        ("p2", "gpu_hours", "A100", d(1000) / d(3600), d("0.31")),
        ("p2", "requests", None, d(1234), d("1.23")),
    ]
    assert engine.total == d("6.54")


def test_graduated_tiers_count_the_whole_tenant_and_split_by_quantity() -> None:
    books = [book(plans={H100: graduated(("100", "3.00"), (None, "2.00"))})]
    items = [gpu_item(90 * HOUR, books, project_id="p1"), gpu_item(30 * HOUR, books, project_id="p2")]

    lines = invoice(items, books).lines

    # 100 x 3 + 20 x 2 = 340 for 120 GPU-hours: p1 has 3/4 of them, p2 1/4.
    assert [(line.project_id, line.quantity, line.amount) for line in lines] == [
        ("p1", d(90), d("255.00")),
        ("p2", d(30), d("85.00")),
    ]
    assert lines[0].unit_price == d("3.00")  # the first tier's price is shown


def test_volume_tiers_price_the_tenant_total_at_one_tier() -> None:
    books = [book(plans={H100: volume(("100", "3.00"), (None, "2.00"))})]
    items = [gpu_item(60 * HOUR, books, project_id="p1"), gpu_item(60 * HOUR, books, project_id="p2")]
    assert [line.amount for line in invoice(items, books).lines] == [d("120.00"), d("120.00")]


def test_packages_round_the_tenant_total_up_to_whole_blocks() -> None:
    books = [book(plans={(MeterName.REQUESTS, None): package("1000", "1.50")})]
    items = [request_item(1500, books, project_id="p1"), request_item(600, books, project_id="p2")]

    lines = invoice(items, books).lines

    # 2100 requests = 3 blocks = 4.50, split 15:6.
    assert [(line.project_id, line.amount) for line in lines] == [("p1", d("3.21")), ("p2", d("1.29"))]


def test_each_line_is_rounded_once_half_up() -> None:
    # 3 x 18 s at 1.00/h = 0.015 exactly: half up to 0.02 (per-interval rounding would say 0.03).
    books = [book(gpu_hour={"H100": "1.00"})]
    items = [gpu_item(18, books) for _ in range(3)]
    (line,) = invoice(items, books).lines
    assert line.amount == d("0.02")


def test_tier_shares_that_are_exact_halves_round_up() -> None:
    # 3 GPU-hours under a 0.01 package of one GPU-hour: 0.03 split 1:1 between two projects is 0.015 each.
    books = [book(plans={H100: package("1", "0.01")})]
    items = [gpu_item(1.5 * HOUR, books, project_id="p1"), gpu_item(1.5 * HOUR, books, project_id="p2")]
    assert [line.amount for line in invoice(items, books).lines] == [d("0.02"), d("0.02")]


def test_a_zero_decimal_currency_rounds_to_whole_units() -> None:
    books = [book(currency="JPY", plans={H100: graduated(("1", "333"), (None, "300"))})]
    (line,) = invoice([gpu_item(1.5 * HOUR, books)], books, currency="JPY").lines
    assert line.amount == d("483")  # 333 + 0.5 x 300 = 483 exactly
    assert line.amount.as_tuple().exponent == 0


def test_a_new_price_book_version_restarts_the_tier_counters() -> None:
    old = book(plans={H100: graduated(("10", "3.00"), (None, "1.00"))})
    new = book(
        plans={H100: graduated(("10", "2.00"), (None, "1.00"))}, effective_from=JAN + timedelta(days=15)
    )
    books = [old, new]
    items = [
        gpu_item(12 * HOUR, books, bound_at=JAN + timedelta(days=2)),
        gpu_item(12 * HOUR, books, bound_at=JAN + timedelta(days=20)),
    ]

    (line,) = invoice(items, books).lines

    assert line.amount == d("54.00")  # (10 x 3 + 2 x 1) + (10 x 2 + 2 x 1)
    assert line.unit_price == d("2.00")  # the latest version's reference price


def test_the_invoice_prices_with_its_books_not_the_price_rated_at_the_time() -> None:
    rated_with = [book(gpu_hour={"H100": "9.00"})]
    corrected = [book(gpu_hour={"H100": "2.00"})]
    assert invoice([gpu_item(HOUR, rated_with)], corrected).total == d("2.00")


def test_a_gpu_model_missing_from_the_book_is_named() -> None:
    books = [book(gpu_hour={"H100": "2"})]
    item = gpu_item(HOUR, [book(gpu_hour={"L4": "1"})], gpu_model="L4")
    with pytest.raises(NoPriceForModel, match="L4"):
        invoice([item], books)


def test_the_same_item_counted_twice_is_billed_once() -> None:
    books = [book(gpu_hour={"H100": "2.00"})]
    item = gpu_item(HOUR, books)
    assert invoice([item, item], books).total == d("2.00")


def test_the_same_source_under_another_event_is_a_duplicate() -> None:
    from dataclasses import replace
    from uuid import uuid4

    books = [book()]
    item = gpu_item(HOUR, books)
    with pytest.raises(DuplicateSource, match=item.source_key):
        invoice([item, replace(item, source_event_id=uuid4())], books)


def test_another_tenants_item_is_refused() -> None:
    books = [book()]
    stranger = gpu_item(HOUR, [book(tenant_id="globex")], tenant_id="globex")
    with pytest.raises(ForeignTenantItem, match="globex"):
        invoice([stranger], books)


def test_fleet_usage_is_never_invoiced() -> None:
    books = [book()]
    fleet = gpu_item(HOUR, [], tenant_id="_fleet")
    assert invoice([fleet], books).lines == ()


def test_an_invoice_without_usage_is_empty_and_zero() -> None:
    empty = invoice([], [book()])
    assert (empty.lines, empty.subtotal, empty.total) == ((), d("0.00"), d("0.00"))
    assert empty.lines_of(LineKind.USAGE) == ()
