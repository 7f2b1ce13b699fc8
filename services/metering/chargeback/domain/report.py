"""Chargeback across the fleet for one period: every tenant's projects, per GPU model, at the operator's
fleet rates, with the idle GPUs' cost shared out or shown as its own line (showback.py's rules).

Rules, on top of showback.py's:
1. Each GPU model is its own fleet: its capacity is the GPU-seconds metered on it in the period, the
   projects' allocations plus the idle GPU-seconds the agents reported (tenant "_fleet"); its idle cost
   is shared among the projects that used that model, in proportion to their GPU-seconds on it.
2. A model with no fleet rate is not priced: its GPU-seconds are listed as unrated, never dropped and
   never priced at zero.
3. A tenant's view holds its own lines only and, in shared mode, their idle shares: never another
   tenant's names or figures, nor the fleet's capacity or idle line (which, with its own figures,
   would tell what the others used).
4. Totals: the fleet's total = the lines' totals + the idle lines; a tenant's = its lines' totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from pricing.money import exact_sum, normalize_currency
from services.metering.chargeback.domain.showback import IdleCostMode, showback
from services.metering.domain.errors import InvalidChargebackInput

ZERO = Decimal(0)
_KEY_SEPARATOR = "\x00"  # below every printable character, so keys sort by tenant, then project


@dataclass(frozen=True)
class UsedGpuSeconds:
    tenant_id: str
    project_id: str
    gpu_model: str
    gpu_seconds: Decimal


@dataclass(frozen=True)
class FleetRates:
    """The operator's fleet rate per GPU-hour, per GPU model, in one currency."""

    currency: str
    gpu_hour: Mapping[str, Decimal]

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", normalize_currency(self.currency))
        wrong = [
            f"{model} is {rate}" for model, rate in self.gpu_hour.items() if not rate.is_finite() or rate < 0
        ]
        if wrong:
            raise InvalidChargebackInput("fleet rates must be non-negative numbers: " + ", ".join(wrong))


@dataclass(frozen=True)
class ChargebackLine:
    tenant_id: str
    project_id: str
    gpu_model: str
    used_gpu_seconds: Decimal
    usage_cost: Decimal
    idle_share: Decimal
    total: Decimal


@dataclass(frozen=True)
class ModelSummary:
    gpu_model: str
    gpu_hour_rate: Decimal
    capacity_gpu_seconds: Decimal
    used_gpu_seconds: Decimal
    idle_gpu_seconds: Decimal
    idle_cost: Decimal
    idle_line: Decimal  # the part of the idle cost shown on its own line (all of it unless shared out)


@dataclass(frozen=True)
class UnratedUsage:
    gpu_model: str
    used_gpu_seconds: Decimal
    idle_gpu_seconds: Decimal | None  # None in a tenant's view: the fleet's idle time is not its own


@dataclass(frozen=True)
class FleetChargeback:
    period: str
    currency: str
    mode: IdleCostMode
    models: tuple[ModelSummary, ...]  # by GPU model
    lines: tuple[ChargebackLine, ...]  # by tenant, project, GPU model
    unrated: tuple[UnratedUsage, ...]
    total: Decimal


@dataclass(frozen=True)
class TenantChargeback:
    period: str
    tenant_id: str
    currency: str
    mode: IdleCostMode
    lines: tuple[ChargebackLine, ...]
    unrated: tuple[UnratedUsage, ...]  # the tenant's own GPU-seconds on models without a rate
    total: Decimal


def fleet_chargeback(
    period: str,
    used: Iterable[UsedGpuSeconds],
    idle_by_model: Mapping[str, Decimal],
    rates: FleetRates,
    mode: IdleCostMode,
) -> FleetChargeback:
    used_by_model: dict[str, dict[str, Decimal]] = defaultdict(dict)
    owners: dict[str, tuple[str, str]] = {}
    for item in used:
        key = _KEY_SEPARATOR.join((item.tenant_id, item.project_id))
        owners[key] = (item.tenant_id, item.project_id)
        projects = used_by_model[item.gpu_model]
        projects[key] = projects.get(key, ZERO) + item.gpu_seconds
    models: list[ModelSummary] = []
    lines: list[ChargebackLine] = []
    unrated: list[UnratedUsage] = []
    for model in sorted(used_by_model.keys() | idle_by_model.keys()):
        by_project = used_by_model.get(model, {})
        idle = idle_by_model.get(model, ZERO)
        rate = rates.gpu_hour.get(model)
        if rate is None:
            unrated.append(UnratedUsage(model, exact_sum(by_project.values()), idle))
            continue
        report = showback(exact_sum(by_project.values()) + idle, by_project, rate, rates.currency, mode)
        models.append(
            ModelSummary(
                model,
                rate,
                report.capacity_gpu_seconds,
                report.used_gpu_seconds,
                report.idle_gpu_seconds,
                report.idle_cost,
                report.idle_line,
            )
        )
        lines.extend(
            ChargebackLine(
                *owners[p.project_id], model, p.used_gpu_seconds, p.usage_cost, p.idle_share, p.total
            )
            for p in report.projects
        )
    lines.sort(key=lambda line: (line.tenant_id, line.project_id, line.gpu_model))
    return FleetChargeback(
        period=period,
        currency=rates.currency,
        mode=mode,
        models=tuple(models),
        lines=tuple(lines),
        unrated=tuple(unrated),
        total=exact_sum(line.total for line in lines) + exact_sum(m.idle_line for m in models),
    )


def tenant_view(fleet: FleetChargeback, tenant_id: str, used: Iterable[UsedGpuSeconds]) -> TenantChargeback:
    """The tenant's own part of the fleet's chargeback; `used` is the fleet's usage, read for the tenant's
    GPU-seconds on unrated models."""
    lines = tuple(line for line in fleet.lines if line.tenant_id == tenant_id)
    unrated_models = {u.gpu_model for u in fleet.unrated}
    own_unrated: dict[str, Decimal] = defaultdict(Decimal)
    for item in used:
        if item.tenant_id == tenant_id and item.gpu_model in unrated_models:
            own_unrated[item.gpu_model] += item.gpu_seconds
    return TenantChargeback(
        period=fleet.period,
        tenant_id=tenant_id,
        currency=fleet.currency,
        mode=fleet.mode,
        lines=lines,
        unrated=tuple(UnratedUsage(model, seconds, None) for model, seconds in sorted(own_unrated.items())),
        total=exact_sum(line.total for line in lines),
    )
