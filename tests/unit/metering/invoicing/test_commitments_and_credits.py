"""Committed-use discounts (spend and quantity, with shortfall lines) and prepaid credit draw-down."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pricing.credits import apply_prepaid_credit, carried_balance
from pricing.errors import InvalidCredit, InvalidPrice
from pricing.meters import MeterName
from services.metering.invoicing.domain.invoice import LineKind
from tests.unit.metering.invoicing.builders import (
    FEB,
    HOUR,
    JAN,
    book,
    d,
    gpu_item,
    invoice,
    quantity_commitment,
    request_item,
    spend_commitment,
)


def test_a_spend_commitment_discounts_usage_in_scope() -> None:
    books = [book(gpu_hour={"H100": "2.00"}, commitments=[spend_commitment("100", "0.20")])]
    result = invoice([gpu_item(100 * HOUR, books)], books)

    (line,) = result.lines_of(LineKind.USAGE)
    assert (line.list_amount, line.amount, line.commitment_id) == (d("200.00"), d("160.00"), "c-spend")
    assert result.lines_of(LineKind.COMMITMENT_SHORTFALL) == ()


def test_a_spend_commitment_bills_its_shortfall_as_a_line() -> None:
    books = [book(gpu_hour={"H100": "2.00"}, commitments=[spend_commitment("500", "0.20")])]
    result = invoice([gpu_item(100 * HOUR, books)], books)

    (shortfall,) = result.lines_of(LineKind.COMMITMENT_SHORTFALL)
    assert (shortfall.meter, shortfall.project_id, shortfall.amount) == (
        "commitment_shortfall",
        None,
        d("340.00"),
    )
    assert result.total == d("500.00")  # the committed spend, exactly


def test_a_spend_commitment_scoped_to_a_meter_leaves_other_meters_at_list() -> None:
    commitment = spend_commitment("10", "0.50", meter=MeterName.REQUESTS)
    books = [book(gpu_hour={"H100": "2.00"}, per_request="0.01", commitments=[commitment])]
    result = invoice([gpu_item(HOUR, books), request_item(2000, books)], books)
    assert [(line.meter, line.amount) for line in result.lines_of(LineKind.USAGE)] == [
        ("gpu_hours", d("2.00")),
        ("requests", d("10.00")),
    ]


def test_a_quantity_commitment_prices_covered_units_at_the_committed_rate() -> None:
    books = [book(gpu_hour={"H100": "2.50"}, commitments=[quantity_commitment("100", "1.80")])]
    items = [gpu_item(90 * HOUR, books, project_id="p1"), gpu_item(30 * HOUR, books, project_id="p2")]

    result = invoice(items, books)

    # 100 of 120 GPU-hours at 1.80, 20 at 2.50; each project covered in proportion (5/6).
    assert [(line.project_id, line.amount) for line in result.lines] == [
        ("p1", d("172.50")),
        ("p2", d("57.50")),
    ]
    assert result.total == d("230.00")


def test_unused_committed_units_are_billed_at_the_committed_rate() -> None:
    books = [book(gpu_hour={"H100": "2.50"}, commitments=[quantity_commitment("100", "1.80")])]
    result = invoice([gpu_item(40 * HOUR, books)], books)

    (shortfall,) = result.lines_of(LineKind.COMMITMENT_SHORTFALL)
    assert (shortfall.quantity, shortfall.unit, shortfall.unit_price, shortfall.amount) == (
        d(60),
        "GPU-hour",
        d("1.80"),
        d("108.00"),
    )
    assert result.total == d("180.00")


def test_a_commitment_is_due_even_without_usage() -> None:
    books = [book(commitments=[spend_commitment("50", "0.1")])]
    assert invoice([], books).total == d("50.00")


def test_a_commitment_starts_with_the_version_that_carries_it() -> None:
    books = [book(commitments=[spend_commitment("50", "0.1")], effective_from=FEB)]
    assert invoice([], books, "2026-01").total == d("0.00")


def test_overlapping_commitments_are_rejected() -> None:
    with pytest.raises(
        InvalidPrice, match=r"commitments\[1\]: covers the same usage as commitments\[0\] \(c-spend\)"
    ):
        book(commitments=[spend_commitment("10", "0.1"), quantity_commitment("5", "1")])


def test_a_quantity_commitment_needs_a_meter_and_a_positive_amount() -> None:
    bad = quantity_commitment("0", "1")
    with pytest.raises(InvalidPrice, match="committed: must be positive"):
        book(commitments=[bad])


def test_prepaid_credit_is_applied_after_the_lines_and_shown_as_a_line() -> None:
    books = [book(gpu_hour={"H100": "2.00"})]
    result = invoice([gpu_item(10 * HOUR, books)], books, opening_credit="5.00")

    (credit,) = result.lines_of(LineKind.PREPAID_CREDIT)
    assert (credit.meter, credit.amount) == ("prepaid_credit", d("-5.00"))
    assert (result.subtotal, result.credit_applied, result.total) == (d("20.00"), d("5.00"), d("15.00"))
    assert result.credit_remaining == d("0.00")


def test_credit_never_takes_the_total_below_zero_and_the_rest_carries() -> None:
    books = [book(gpu_hour={"H100": "2.00"})]
    result = invoice([gpu_item(10 * HOUR, books)], books, opening_credit="50.00")
    assert (result.total, result.credit_applied, result.credit_remaining) == (
        d("0.00"),
        d("20.00"),
        d("30.00"),
    )


def test_no_credit_is_used_on_a_zero_invoice() -> None:
    application = apply_prepaid_credit(d("0.00"), d("10.00"), "USD")
    assert (application.applied, application.remaining) == (d("0.00"), d("10.00"))


def test_the_carried_balance_is_grants_less_what_finalized_invoices_used() -> None:
    assert carried_balance([d("100.00"), d("20.00")], [d("35.50")], "USD") == d("84.50")


@pytest.mark.parametrize(("amount", "problem"), [("-1", "non-negative"), ("0.001", "more decimals than USD")])
def test_an_invalid_credit_balance_is_named(amount: str, problem: str) -> None:
    with pytest.raises(InvalidCredit, match=problem):
        apply_prepaid_credit(d("10"), d(amount), "USD")


def test_more_credit_used_than_granted_is_an_error() -> None:
    with pytest.raises(InvalidCredit, match="only 10 was granted"):
        carried_balance([d(10)], [d(11)], "USD")


def test_commitment_terms_come_from_the_version_in_effect_at_the_period_end() -> None:
    early = book(gpu_hour={"H100": "2.00"})
    late = book(
        gpu_hour={"H100": "2.00"},
        commitments=[spend_commitment("10", "0.5")],
        effective_from=JAN + timedelta(days=20),
    )
    (line,) = invoice([gpu_item(10 * HOUR, [early, late])], [early, late]).lines
    assert line.amount == d("10.00")  # the commitment of the later version covers the whole month
