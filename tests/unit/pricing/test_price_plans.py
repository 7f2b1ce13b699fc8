"""The checks of a price book's plans and commitments as a tenant sets them, each naming the field that
is wrong (the gateway refuses them at its edge, metering when it prices)."""

from __future__ import annotations

from decimal import Decimal

from pricing.errors import Problem
from pricing.price_books import commitment_terms_problems as commitment_errors
from pricing.price_books import plan_terms_problems as plan_errors
from shared.events.gateway import CommitmentSpec, PricePlanSpec, PriceTier


def messages(errors: list[Problem]) -> dict[str, str]:
    return {error.field: error.message for error in errors}


def test_valid_plans_and_commitments_have_no_errors() -> None:
    plans = [
        PricePlanSpec(
            meter="gpu_hours",
            gpu_model="H100",
            kind="tiered",
            mode="volume",
            tiers=[PriceTier(up_to=Decimal(10), unit_price=Decimal(2)), PriceTier(unit_price=Decimal(1))],
        ),
        PricePlanSpec(meter="gpu_hours", gpu_model="A100", kind="per_unit", unit_price=Decimal("1.2")),
    ]
    commitments = [
        CommitmentSpec(
            commitment_id="h", kind="quantity", committed=Decimal(5), meter="gpu_hours", gpu_model="H100"
        ),
        CommitmentSpec(
            commitment_id="a", kind="quantity", committed=Decimal(5), meter="gpu_hours", gpu_model="A100"
        ),
    ]
    assert plan_errors(plans) == [] and commitment_errors(commitments) == []


def test_a_second_plan_for_one_meter_a_model_on_another_meter_and_missing_prices_are_named() -> None:
    plans = [
        PricePlanSpec(meter="requests", gpu_model="H100", kind="per_unit"),
        PricePlanSpec(meter="requests", gpu_model="H100", kind="tiered", tiers=[]),
    ]
    assert messages(plan_errors(plans)) == {
        "plans[0].gpu_model": "a gpu_hours plan needs a GPU model; other meters have none",
        "plans[0].unit_price": "is required",
        "plans[1].gpu_model": "a gpu_hours plan needs a GPU model; other meters have none",
        "plans[1]": "requests H100 already has a plan",
        "plans[1].tiers": "a tiered plan needs at least one tier",
    }


def test_a_tier_without_bound_before_the_last_and_a_model_outside_gpu_hours_are_named() -> None:
    tiered = PricePlanSpec(
        meter="tokens_1k",
        kind="tiered",
        tiers=[
            PriceTier(unit_price=Decimal(1)),
            PriceTier(up_to=Decimal(3), unit_price=Decimal(1), flat_fee=Decimal(-1)),
        ],
    )
    spend = CommitmentSpec(
        commitment_id=" ", kind="spend", committed=Decimal(0), meter="requests", gpu_model="H100"
    )
    assert messages(plan_errors([tiered])) == {
        "plans[0].tiers[0].up_to": "only the last tier may have no upper bound",
        "plans[0].tiers[1].flat_fee": "must be a finite amount of 0 or more, not -1",
        "plans[0].tiers[1].up_to": "the last tier has no upper bound (null)",
    }
    assert messages(commitment_errors([spend])) == {
        "commitments[0].commitment_id": "must not be blank",
        "commitments[0].committed": "must be positive, not 0",
        "commitments[0].gpu_model": "only gpu_hours has GPU models",
    }
