"""Budgets: thresholds crossed once, hard caps exhausted once, and the end-of-period forecast."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pricing.budgets import (
    BudgetExhausted,
    BudgetThresholdCrossed,
    evaluate_budget,
)
from pricing.errors import InvalidBudget
from services.metering.budgets.domain.tracking import budget_spend
from services.metering.domain.errors import CurrencyMismatch
from tests.unit.metering.invoicing.builders import FEB, HOUR, JAN, book, budget, d, gpu_item, invoice

MID_JAN = JAN + timedelta(days=15, hours=12)  # half of January's 31 days


def thresholds(events: tuple[object, ...]) -> list[object]:
    return [e.threshold_percent for e in events if isinstance(e, BudgetThresholdCrossed)]


def test_no_event_below_the_first_threshold() -> None:
    assert evaluate_budget(budget("1000"), d("499.99"), MID_JAN).events == ()


def test_crossing_a_threshold_emits_it() -> None:
    (event,) = evaluate_budget(budget("1000"), d("500"), MID_JAN).events
    assert isinstance(event, BudgetThresholdCrossed)
    assert (event.threshold_percent, event.spend, event.amount, event.project_id) == (
        d(50),
        d(500),
        d(1000),
        None,
    )


def test_each_threshold_is_emitted_once_per_period() -> None:
    decision = evaluate_budget(budget("1000"), d("850"), MID_JAN, emitted_thresholds=[d(50)])
    assert thresholds(decision.events) == [d(80)]
    assert evaluate_budget(budget("1000"), d("850"), MID_JAN, emitted_thresholds=[d(50), d(80)]).events == ()


def test_several_thresholds_crossed_at_once_come_lowest_first() -> None:
    decision = evaluate_budget(budget("1000", thresholds=[100, 50, 80]), d("1200"), MID_JAN)
    assert thresholds(decision.events) == [d(50), d(80), d(100)]


def test_a_hard_cap_is_exhausted_once() -> None:
    capped = budget("1000", hard_cap=True)
    events = evaluate_budget(capped, d("1000"), MID_JAN, emitted_thresholds=[d(50), d(80)]).events
    assert [type(e) for e in events] == [BudgetThresholdCrossed, BudgetExhausted]
    again = evaluate_budget(
        capped, d("1100"), MID_JAN, emitted_thresholds=[d(50), d(80), d(100)], exhausted_emitted=True
    )
    assert again.events == ()


def test_without_a_hard_cap_nothing_is_exhausted() -> None:
    events = evaluate_budget(budget("1000"), d("5000"), MID_JAN).events
    assert not any(isinstance(e, BudgetExhausted) for e in events)


def test_the_forecast_extrapolates_the_burn_rate_so_far() -> None:
    forecast = evaluate_budget(budget("1000"), d("400"), MID_JAN).forecast
    assert forecast.elapsed_fraction == d("0.5")
    assert (forecast.forecast_spend, forecast.forecast_percent) == (d("800.00"), d("80.00"))


def test_the_first_hour_of_a_period_is_measured_as_a_whole_hour() -> None:
    forecast = evaluate_budget(budget("1000"), d("1"), JAN + timedelta(minutes=1)).forecast
    assert forecast.forecast_spend == d("744.00")  # 1 per hour over 744 hours, not 1 per minute


def test_after_the_period_the_forecast_is_the_spend() -> None:
    assert evaluate_budget(budget("1000"), d("640.50"), FEB + timedelta(days=2)).forecast.forecast_spend == d(
        "640.50"
    )


@pytest.mark.parametrize(
    ("amount", "problem"), [("0", "amount: must be positive"), ("-5", "amount: must be positive")]
)
def test_an_invalid_budget_is_named(amount: str, problem: str) -> None:
    with pytest.raises(InvalidBudget, match=f"budget b1: {problem}"):
        evaluate_budget(budget(amount), d(1), MID_JAN)


def test_repeated_thresholds_are_rejected() -> None:
    with pytest.raises(InvalidBudget, match="thresholds repeat"):
        evaluate_budget(budget(thresholds=[50, 50]), d(1), MID_JAN)


def test_a_project_budget_counts_only_that_projects_lines() -> None:
    books = [book(gpu_hour={"H100": "2.00"})]
    bill = invoice(
        [gpu_item(10 * HOUR, books, project_id="p1"), gpu_item(HOUR, books, project_id="p2")], books
    )
    assert budget_spend(budget(project_id="p1"), bill) == d("20.00")
    assert budget_spend(budget(), bill) == d("22.00")


def test_spend_before_credit_counts_against_the_budget() -> None:
    books = [book(gpu_hour={"H100": "2.00"})]
    bill = invoice([gpu_item(10 * HOUR, books)], books, opening_credit="15.00")
    assert (bill.total, budget_spend(budget(), bill)) == (d("5.00"), d("20.00"))


def test_a_budget_in_another_currency_is_refused() -> None:
    books = [book(currency="EUR")]
    bill = invoice([], books, currency="EUR")
    with pytest.raises(CurrencyMismatch, match="USD"):
        budget_spend(budget(), bill)


def test_a_budget_of_another_period_is_refused() -> None:
    with pytest.raises(InvalidBudget, match="not invoice inv_acme_2026-01"):
        budget_spend(budget(period="2026-02"), invoice([], [book()]))
