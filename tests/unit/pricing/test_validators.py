"""Each pricing rule's one validator: every problem it finds, each under its field path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing.budgets import Budget, budget_problems
from pricing.commitments import Commitment, CommitmentKind, commitment_problems
from pricing.credits import credit_balance_problems, credit_grant_problems, validate_credit_grant
from pricing.errors import InvalidBudget, InvalidCredit, InvalidPrice, Problem
from pricing.meters import MeterName, gpu_model_problems
from pricing.price_books import plan_of, price_book_problems
from pricing.price_plans import Package, PerUnit, Tier, Tiered, plan_problems
from shared.events.gateway import CommitmentSpec, PriceBookSet, PricePlanSpec, PriceTier


def d(value: str | int) -> Decimal:
    return Decimal(value)


def fields(problems: list[Problem]) -> list[str]:
    return [problem.field for problem in problems]


def test_gpu_model_names_must_be_short_and_not_blank() -> None:
    problems = gpu_model_problems("gpu_hour", ["A100", " ", "x" * 65])
    assert fields(problems) == ["gpu_hour. ", f"gpu_hour.{'x' * 65}"]


def test_a_budget_names_every_problem() -> None:
    problems = budget_problems(d(-5), "usd", [d(0), d(50), d(50), d(1001)] + [d(i) for i in range(1, 8)])
    assert fields(problems) == [
        "amount",
        "currency",
        "thresholds_percent",
        "thresholds_percent.0",
        "thresholds_percent.3",
        "thresholds_percent",
    ]
    assert [p.message for p in problems if p.field == "thresholds_percent"] == [
        "at most 10 thresholds",
        "thresholds repeat",
    ]
    assert budget_problems(d(100), None, [d(50), d(100), d(1000)]) == []


def test_a_budget_applied_with_problems_is_invalid_naming_them_all() -> None:
    budget = Budget("b1", "acme", None, "2026-01", d(0), "XYZ", (d(50), d(50)))
    with pytest.raises(
        InvalidBudget, match="budget b1: amount: must be positive.*currency: 'XYZ'.*repeat"
    ) as raised:
        budget.validated()
    assert fields(list(raised.value.problems)) == ["amount", "currency", "thresholds_percent"]


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("0", "USD", "must be an amount above 0, not 0"),
        ("-1", "USD", "must be an amount above 0, not -1"),
        ("NaN", "USD", "must be an amount above 0, not NaN"),
        ("0.001", "USD", "0.001 has more decimals than USD's 2"),
        ("1.5", "JPY", "1.5 has more decimals than JPY's 0"),
    ],
)
def test_a_credit_grant_is_positive_in_whole_minor_units(amount: str, currency: str, message: str) -> None:
    assert credit_grant_problems(d(amount), currency) == [Problem("amount", message)]
    with pytest.raises(InvalidCredit, match="credit grant: "):
        validate_credit_grant(d(amount), currency)


def test_a_credit_balance_may_be_zero_but_not_negative() -> None:
    assert credit_balance_problems(d(0), "USD") == [] and credit_grant_problems(d("10.5"), "BHD") == []
    assert fields(credit_balance_problems(d(-1), "USD", "opening")) == ["opening"]


def test_commitments_name_every_problem_by_index() -> None:
    commitments = [
        Commitment(" ", CommitmentKind.SPEND, d(0), discount=d("1.5")),
        Commitment("q", CommitmentKind.QUANTITY, d(5), unit_price=d(-1), gpu_model="H100"),
        Commitment("r", CommitmentKind.QUANTITY, d(5), meter=MeterName.REQUESTS, gpu_model="H100"),
    ]
    assert fields(commitment_problems(commitments)) == [
        "commitments[0].commitment_id",
        "commitments[0].committed",
        "commitments[0].discount",
        "commitments[1].meter",
        "commitments[1].unit_price",
        "commitments[1]",
        "commitments[2].gpu_model",
        "commitments[2]",
        "commitments[2]",
    ]
    assert commitment_problems(commitments)[5].message == "covers the same usage as commitments[0] ( )"


def test_a_built_plan_names_its_problems_under_the_given_path() -> None:
    tiered = Tiered((Tier(None, d(-1)), Tier(d(5), d(1), d(-2))))
    assert [str(p) for p in plan_problems(tiered, "plans[gpu_hours/H100]")] == [
        "plans[gpu_hours/H100].tiers[0].unit_price: must be a finite amount of 0 or more, not -1",
        "plans[gpu_hours/H100].tiers[0].up_to: only the last tier may have no upper bound",
        "plans[gpu_hours/H100].tiers[1].flat_fee: must be a finite amount of 0 or more, not -2",
        "plans[gpu_hours/H100].tiers[1].up_to: the last tier has no upper bound (null)",
    ]
    assert fields(plan_problems(Package(d(0), d(-1)), "p")) == ["p.block_price", "p.block_size"]
    assert plan_problems(PerUnit(d("0.5")), "p") == []


def test_a_plan_missing_its_terms_cannot_be_built() -> None:
    with pytest.raises(InvalidPrice, match="plan.unit_price: is required"):
        plan_of(PricePlanSpec(meter=MeterName.REQUESTS, kind="per_unit"))


def test_a_price_book_names_every_problem_of_every_part() -> None:
    book = PriceBookSet.model_validate(
        {
            "occurred_at": "2026-01-01T00:00:00Z",
            "tenant_id": "acme",
            "currency": "XYZ",
            "gpu_hour": {"H100": "-1", "": "2"},
            "per_kwh": "-0.5",
            "plans": [
                PricePlanSpec(
                    meter=MeterName.GPU_HOURS,
                    gpu_model="H100",
                    kind="tiered",
                    tiers=[PriceTier(up_to=d(10), unit_price=d(1)), PriceTier(up_to=d(5), unit_price=d(1))],
                )
            ],
            "commitments": [CommitmentSpec(commitment_id="c", kind="quantity", committed=d(1))],
        }
    )
    assert fields(price_book_problems(book)) == [
        "currency",
        "gpu_hour.",
        "gpu_hour.H100",
        "per_kwh",
        "plans[0].tiers[1].up_to",
        "commitments[0].meter",
    ]
