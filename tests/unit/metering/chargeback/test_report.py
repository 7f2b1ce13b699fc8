"""The fleet's chargeback per GPU model and tenant (report.py): idle cost shared by usage or
as its own line, totals that add up to the cent, never negative, and a tenant's view of its own only."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from pydantic import ValidationError

from pricing.errors import UnknownCurrency
from services.metering.chargeback.domain.report import (
    FleetRates,
    UnratedUsage,
    UsedGpuSeconds,
    fleet_chargeback,
    tenant_view,
)
from services.metering.chargeback.domain.showback import IdleCostMode
from services.metering.domain.errors import InvalidChargebackInput
from services.metering.settings import MeteringSettings

RATES = FleetRates("usd", {"H100": Decimal("3.60"), "A100": Decimal("1.80")})
HOUR = Decimal(3600)
# H100: acme/vision 2 h, acme/speech 1 h, globex/search 1 h, 4 h idle. A100: globex/search 1 h, 1 h idle.
USED = [
    UsedGpuSeconds("acme", "vision", "H100", 2 * HOUR),
    UsedGpuSeconds("acme", "speech", "H100", HOUR),
    UsedGpuSeconds("globex", "search", "H100", HOUR),
    UsedGpuSeconds("globex", "search", "A100", HOUR),
]
IDLE = {"H100": 4 * HOUR, "A100": HOUR}


def money(value: str) -> Decimal:
    return Decimal(value)


def test_shared_idle_cost_goes_to_each_models_users_by_their_gpu_seconds() -> None:
    report = fleet_chargeback("2026-01", USED, IDLE, RATES, IdleCostMode.SHARED)

    rows = {
        (ln.tenant_id, ln.project_id, ln.gpu_model): (ln.usage_cost, ln.idle_share, ln.total)
        for ln in report.lines
    }
    # H100 idle: 4 h x 3.60 = 14.40, shared 2:1:1; A100 idle: 1.80, all globex/search's.
    assert rows == {
        ("acme", "speech", "H100"): (money("3.60"), money("3.60"), money("7.20")),
        ("acme", "vision", "H100"): (money("7.20"), money("7.20"), money("14.40")),
        ("globex", "search", "A100"): (money("1.80"), money("1.80"), money("3.60")),
        ("globex", "search", "H100"): (money("3.60"), money("3.60"), money("7.20")),
    }
    assert [(m.gpu_model, m.capacity_gpu_seconds, m.idle_cost, m.idle_line) for m in report.models] == [
        ("A100", 2 * HOUR, money("1.80"), 0),
        ("H100", 8 * HOUR, money("14.40"), 0),
    ]
    assert (report.currency, report.total) == ("USD", money("32.40"))  # 10 GPU-hours at their rates


def test_a_separate_idle_line_carries_the_same_cost_and_the_projects_none_of_it() -> None:
    shared = fleet_chargeback("2026-01", USED, IDLE, RATES, IdleCostMode.SHARED)
    separate = fleet_chargeback("2026-01", USED, IDLE, RATES, IdleCostMode.SEPARATE_LINE)

    assert all(line.idle_share == 0 and line.total == line.usage_cost for line in separate.lines)
    assert [(m.gpu_model, m.idle_line) for m in separate.models] == [
        ("A100", money("1.80")),
        ("H100", money("14.40")),
    ]
    assert separate.total == shared.total == sum(ln.total for ln in separate.lines) + money("16.20")


def test_a_model_nobody_used_shows_its_idle_cost_as_a_line_even_when_shared() -> None:
    report = fleet_chargeback("2026-01", USED[:1], IDLE, RATES, IdleCostMode.SHARED)

    assert [(m.gpu_model, m.used_gpu_seconds, m.idle_line) for m in report.models] == [
        ("A100", 0, money("1.80")),
        ("H100", 2 * HOUR, 0),
    ]
    assert report.total == money("7.20") + money("14.40") + money("1.80")


def test_gpu_seconds_on_a_model_without_a_rate_are_listed_unrated_never_priced() -> None:
    used = [*USED, UsedGpuSeconds("acme", "vision", "L40S", HOUR)]
    report = fleet_chargeback("2026-01", used, IDLE | {"L40S": 2 * HOUR}, RATES, IdleCostMode.SHARED)

    assert report.unrated == (UnratedUsage("L40S", HOUR, 2 * HOUR),)
    assert "L40S" not in {line.gpu_model for line in report.lines} | {m.gpu_model for m in report.models}
    assert report.total == money("32.40")


def test_a_tenants_view_holds_its_own_lines_and_shares_only() -> None:
    used = [*USED, UsedGpuSeconds("globex", "search", "L40S", HOUR)]
    fleet = fleet_chargeback("2026-01", used, IDLE, RATES, IdleCostMode.SHARED)

    acme = tenant_view(fleet, "acme", used)
    globex = tenant_view(fleet, "globex", used)

    assert {line.tenant_id for line in acme.lines} == {"acme"}
    assert [(ln.project_id, ln.total) for ln in acme.lines] == [
        ("speech", money("7.20")),
        ("vision", money("14.40")),
    ]
    assert (acme.total, acme.unrated) == (money("21.60"), ())
    assert globex.unrated == (UnratedUsage("L40S", HOUR, None),)
    assert acme.total + globex.total == fleet.total


def test_a_tenant_with_no_usage_sees_nothing_and_owes_nothing() -> None:
    fleet = fleet_chargeback("2026-01", USED, IDLE, RATES, IdleCostMode.SHARED)

    view = tenant_view(fleet, "initech", USED)

    assert (view.lines, view.unrated, view.total) == ((), (), 0)


@pytest.mark.parametrize("mode", list(IdleCostMode))
def test_amounts_are_never_negative_and_always_add_up(mode: IdleCostMode) -> None:
    rng = random.Random(7)
    for _ in range(200):
        used = [
            UsedGpuSeconds(
                f"t{rng.randrange(3)}",
                f"p{rng.randrange(4)}",
                rng.choice(["H100", "A100"]),
                Decimal(rng.randrange(0, 90_000)),
            )
            for _ in range(rng.randrange(0, 8))
        ]
        idle = {model: Decimal(rng.randrange(0, 50_000)) for model in ("H100", "A100") if rng.random() < 0.7}

        report = fleet_chargeback("2026-01", used, idle, RATES, mode)

        amounts = [v for ln in report.lines for v in (ln.usage_cost, ln.idle_share, ln.total)]
        amounts += [v for m in report.models for v in (m.idle_cost, m.idle_line, m.idle_gpu_seconds)]
        assert all(amount >= 0 for amount in amounts)
        for model in report.models:
            shares = sum(ln.idle_share for ln in report.lines if ln.gpu_model == model.gpu_model)
            assert shares + model.idle_line == model.idle_cost
        assert report.total == sum(ln.total for ln in report.lines) + sum(m.idle_line for m in report.models)
        tenants = {ln.tenant_id for ln in report.lines}
        assert (
            sum(tenant_view(report, t, used).total for t in tenants) + sum(m.idle_line for m in report.models)
            == report.total
        )


def test_fleet_rates_must_be_non_negative_in_a_known_currency() -> None:
    with pytest.raises(InvalidChargebackInput, match="H100 is -1"):
        FleetRates("USD", {"H100": Decimal(-1)})
    with pytest.raises(InvalidChargebackInput, match="A100 is NaN"):
        FleetRates("USD", {"A100": Decimal("NaN")})
    with pytest.raises(UnknownCurrency):
        FleetRates("XYZ", {})


def test_metering_refuses_to_start_with_a_negative_rate_or_an_unknown_currency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIFACTORY_CHARGEBACK_RATES", '{"H100": "2.50", "A100": "1.60"}')
    assert MeteringSettings().fleet_rates.gpu_hour == {"H100": Decimal("2.50"), "A100": Decimal("1.60")}

    monkeypatch.setenv("AIFACTORY_CHARGEBACK_RATES", '{"H100": "-2.50"}')
    with pytest.raises(ValidationError, match="H100 is -2.50"):
        MeteringSettings()
    monkeypatch.setenv("AIFACTORY_CHARGEBACK_RATES", "{}")
    monkeypatch.setenv("AIFACTORY_CHARGEBACK_CURRENCY", "XYZ")
    with pytest.raises(ValidationError, match="unknown currency 'XYZ'"):
        MeteringSettings()
