"""Budgets tracked period after period (domain/tracking.py): thresholds once, exhaustion and
restoration, re-armed thresholds after a new amount, stale snapshots, a fresh start each period."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pricing.errors import InvalidBudget
from services.metering.budgets.domain.tracking import (
    BudgetDefinition,
    BudgetExhausted,
    BudgetRestored,
    BudgetThresholdCrossed,
    OnExhaustion,
    PeriodState,
    SpendReading,
    Tracked,
    invoice_spend,
    track_budget,
)

JAN_10 = datetime(2026, 1, 10, tzinfo=UTC)
PERIOD = "2026-01"


def d(value: str | int) -> Decimal:
    return Decimal(value)


def definition(amount: str = "100", *, hard_cap: bool = True, **changes: object) -> BudgetDefinition:
    base = BudgetDefinition(
        budget_id="bud_prj_a",
        tenant_id="tnt_a",
        project_id="prj_a",
        amount=d(amount),
        currency="USD",
        thresholds_percent=(d(100), d(50), d(80)),
        hard_cap=hard_cap,
        on_exhaustion=OnExhaustion.CONTINUE,
        set_at=JAN_10,
    )
    return replace(base, **changes).validated()  # type: ignore[arg-type]


def spent(amount: str, minutes: int = 0) -> SpendReading:
    return SpendReading(d(amount), JAN_10 + timedelta(minutes=minutes))


def step(budget: BudgetDefinition, reading: SpendReading | None, previous: PeriodState | None) -> Tracked:
    return track_budget(budget, PERIOD, reading, JAN_10 + timedelta(hours=1), previous)


def kinds(tracked: Tracked) -> list[str]:
    return [
        f"threshold {e.threshold_percent}" if isinstance(e, BudgetThresholdCrossed) else type(e).__name__
        for e in tracked.events
    ]


def test_validation_sorts_thresholds_and_refuses_what_the_gateway_refuses() -> None:
    budget = definition()
    assert (budget.currency, budget.thresholds_percent) == ("USD", (d(50), d(80), d(100)))
    with pytest.raises(InvalidBudget, match="currency: 'usd' is not an ISO 4217 currency code"):
        definition(currency="usd")  # a currency is written as ISO 4217 does (pricing.money)
    with pytest.raises(InvalidBudget):
        definition("0")
    with pytest.raises(InvalidBudget):
        definition(thresholds_percent=(d(50), d(50)))


def test_thresholds_are_announced_once_each_and_exhaustion_once() -> None:
    budget = definition()
    first = step(budget, spent("55"), None)
    assert kinds(first) == ["threshold 50"]
    assert step(budget, spent("60", 1), first.state).events == ()
    crossing = step(budget, spent("100", 2), first.state)
    assert kinds(crossing) == ["threshold 80", "threshold 100", "BudgetExhausted"]
    assert crossing.state.exhausted and crossing.state.thresholds_emitted == {d(50), d(80), d(100)}
    assert step(budget, spent("130", 3), crossing.state).events == ()


def test_without_a_hard_cap_reaching_the_amount_only_crosses_thresholds() -> None:
    tracked = step(definition(hard_cap=False), spent("100"), None)
    assert kinds(tracked) == ["threshold 50", "threshold 80", "threshold 100"]
    assert not tracked.state.exhausted


def test_a_raised_amount_restores_an_exhausted_budget_and_rearms_thresholds() -> None:
    exhausted = step(definition("100"), spent("100"), None).state
    raised = step(definition("400"), None, exhausted)  # a new setting: the spend already known
    (restored,) = raised.events
    assert isinstance(restored, BudgetRestored) and restored.amount == d(400) and restored.spend == d(100)
    assert not raised.state.exhausted
    # 100 of 400 is 25 %: every threshold is armed again, and crossed again as spend grows.
    assert raised.state.thresholds_emitted == frozenset()
    assert kinds(step(definition("400"), spent("200", 5), raised.state)) == ["threshold 50"]
    again = step(definition("400"), spent("400", 6), raised.state)
    assert kinds(again) == ["threshold 50", "threshold 80", "threshold 100", "BudgetExhausted"]


def test_lifting_the_hard_cap_restores_and_a_lowered_amount_exhausts_at_once() -> None:
    exhausted = step(definition("100"), spent("120"), None).state
    (lifted,) = step(definition("100", hard_cap=False), None, exhausted).events
    assert isinstance(lifted, BudgetRestored) and "lifted" in lifted.reason
    quiet = step(definition("1000"), spent("120"), None).state
    lowered = step(definition("100"), None, quiet)
    assert kinds(lowered) == ["threshold 50", "threshold 80", "threshold 100", "BudgetExhausted"]


def test_a_new_policy_of_an_exhausted_budget_is_announced_again() -> None:
    exhausted = step(definition(), spent("100"), None).state
    stop = definition(on_exhaustion=OnExhaustion.STOP)
    (again,) = step(stop, None, exhausted).events
    assert isinstance(again, BudgetExhausted)
    assert step(stop, None, step(stop, None, exhausted).state).events == ()


def test_a_stale_snapshot_keeps_the_spend_decided_on() -> None:
    state = step(definition(), spent("90", minutes=10), None).state
    stale = step(definition(), spent("20", minutes=5), state)
    assert stale.events == () and stale.state.spend == d(90) and stale.state.spend_as_of == state.spend_as_of


def test_each_period_starts_afresh() -> None:
    january = step(definition(), spent("100"), None).state
    assert january.exhausted
    february = track_budget(definition(), "2026-02", SpendReading(d(10), JAN_10), JAN_10, None)
    assert february.events == () and not february.state.exhausted


def test_forecast_follows_the_burn_rate() -> None:
    # January 10th, 01:00: 9 days and 1 hour of the 31 days have passed.
    tracked = step(definition("1000"), spent("217"), None)
    elapsed_days = Decimal(9) + Decimal(1) / Decimal(24)
    expected = (d(217) * 31 / elapsed_days).quantize(Decimal("0.01"))
    assert tracked.state.forecast_spend == expected == tracked.forecast.forecast_spend


def test_spend_of_a_project_sums_its_lines_and_of_a_tenant_is_the_total() -> None:
    lines = [("prj_a", d("1.10")), ("prj_b", d("5")), ("prj_a", d("2.25"))]
    assert invoice_spend("prj_a", d("8.35"), lines) == d("3.35")
    assert invoice_spend(None, d("8.35"), lines) == d("8.35")
    assert invoice_spend("prj_c", d("8.35"), lines) == 0
