"""What is wrong with a price book's plans and commitments, field by field, before it goes to metering
(which applies them: its domain/price_plans.py and commitments.py say how)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from services.gateway.domain.errors import FieldError
from shared.events.gateway import CommitmentSpec, PricePlanSpec


def plan_errors(plans: Sequence[PricePlanSpec]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[tuple[str, str | None]] = set()
    for index, plan in enumerate(plans):
        name = f"plans[{index}]"
        if (plan.meter == "gpu_hours") != (plan.gpu_model is not None):
            errors.append(
                FieldError(f"{name}.gpu_model", "a gpu_hours plan needs a GPU model; other meters have none")
            )
        if (plan.meter, plan.gpu_model) in seen:
            errors.append(
                FieldError(
                    name, f"{plan.meter}{' ' + plan.gpu_model if plan.gpu_model else ''} already has a plan"
                )
            )
        seen.add((plan.meter, plan.gpu_model))
        match plan.kind:
            case "per_unit":
                errors += _amount(f"{name}.unit_price", plan.unit_price)
            case "package":
                errors += _amount(f"{name}.block_price", plan.block_price)
                if plan.block_size is None or not plan.block_size.is_finite() or plan.block_size <= 0:
                    errors.append(
                        FieldError(
                            f"{name}.block_size", f"must be a positive quantity, not {plan.block_size}"
                        )
                    )
            case "tiered":
                errors += _tier_errors(plan, name)
    return errors


def _tier_errors(plan: PricePlanSpec, name: str) -> list[FieldError]:
    if not plan.tiers:
        return [FieldError(f"{name}.tiers", "a tiered plan needs at least one tier")]
    errors: list[FieldError] = []
    previous = Decimal(0)
    for index, tier in enumerate(plan.tiers):
        label = f"{name}.tiers[{index}]"
        errors += _amount(f"{label}.unit_price", tier.unit_price)
        errors += _amount(f"{label}.flat_fee", tier.flat_fee)
        last = index == len(plan.tiers) - 1
        if last and tier.up_to is not None:
            errors.append(FieldError(f"{label}.up_to", "the last tier has no upper bound (null)"))
        elif not last and tier.up_to is None:
            errors.append(FieldError(f"{label}.up_to", "only the last tier may have no upper bound"))
        elif tier.up_to is not None:
            if not tier.up_to.is_finite() or tier.up_to <= previous:
                errors.append(FieldError(f"{label}.up_to", f"must be above {previous}, not {tier.up_to}"))
            else:
                previous = tier.up_to
    return errors


def commitment_errors(commitments: Sequence[CommitmentSpec]) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, c in enumerate(commitments):
        name = f"commitments[{index}]"
        if not c.commitment_id.strip():
            errors.append(FieldError(f"{name}.commitment_id", "must not be blank"))
        if not c.committed.is_finite() or c.committed <= 0:
            errors.append(FieldError(f"{name}.committed", f"must be positive, not {c.committed}"))
        if c.kind == "spend" and not (0 <= c.discount <= 1):
            errors.append(FieldError(f"{name}.discount", f"must be a fraction from 0 to 1, not {c.discount}"))
        if c.kind == "quantity":
            if c.meter is None:
                errors.append(FieldError(f"{name}.meter", "a quantity commitment needs a meter"))
            errors += _amount(f"{name}.unit_price", c.unit_price)
        if c.gpu_model is not None and c.meter not in (None, "gpu_hours"):
            errors.append(FieldError(f"{name}.gpu_model", "only gpu_hours has GPU models"))
        for other_index, other in enumerate(commitments[:index]):
            if _overlap(c, other):
                errors.append(
                    FieldError(
                        name, f"covers the same usage as commitments[{other_index}] ({other.commitment_id})"
                    )
                )
    return errors


def _overlap(a: CommitmentSpec, b: CommitmentSpec) -> bool:
    meters = a.meter is None or b.meter is None or a.meter == b.meter
    models = a.gpu_model is None or b.gpu_model is None or a.gpu_model == b.gpu_model
    return meters and models


def _amount(field: str, value: Decimal | None) -> list[FieldError]:
    if value is None:
        return [FieldError(field, "is required")]
    if not value.is_finite() or value < 0:
        return [FieldError(field, f"must be a finite amount of 0 or more, not {value}")]
    return []
