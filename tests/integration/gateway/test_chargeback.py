"""Chargeback / showback through the gateway, with the real metering service behind it (real NATS and
PostgreSQL): allocations released on the bus and the agents' idle samples (tenant "_fleet") are metered,
then priced at the operator's fleet rates per GPU-hour, the idle cost shared by usage or shown as its own
line; each tenant sees only its own projects; bad input is problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.gateway import test_budgets_and_webhooks
from tests.integration.gateway.conftest import OPERATOR, Gateway, Tenant, bearer, eventually
from tests.integration.gateway.test_bad_input import assert_problem
from tests.integration.gateway.test_usage_and_exports import DAY_ONE, DAY_TWO, PERIOD
from tests.unit.metering.builders import price_book_set
from tests.unit.metering.usage.builders import released, sample

gateway = test_budgets_and_webhooks.gateway  # a gateway with the real metering behind it
HOUR = 3600


@pytest.fixture(autouse=True)
def fleet_rates(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The operator's fleet rates, as the metering pod's environment sets them (read when it starts)."""
    monkeypatch.setenv("AIFACTORY_CHARGEBACK_RATES", '{"H100": "3.60", "A100": "1.80"}')
    monkeypatch.setenv("AIFACTORY_CHARGEBACK_CURRENCY", "USD")
    yield


async def metered_fleet(gateway: Gateway) -> tuple[Tenant, Tenant]:
    """acme: vision 2 GPU-hours and speech 1 on H100; globex: search 1 on H100, 1 on A100 and 1 on L40S
    (which has no fleet rate); idle: 4 GPU-hours of H100 and 1 of A100 (agents' samples of GPUs no
    allocation held)."""
    acme = await gateway.new_tenant("acme")
    globex = await gateway.new_tenant("globex")
    for tenant in (acme, globex):
        await gateway.publish(
            price_book_set(
                tenant.tenant_id,
                gpu_hour={"H100": "2.50", "A100": "1.00", "L40S": "1.00"},
                occurred_at=DAY_ONE - timedelta(days=7),
            )
        )
    await gateway.publish(
        released(HOUR, end=DAY_ONE, tenant_id=acme.tenant_id, project_id="vision", gpu_count=2)
    )
    await gateway.publish(released(HOUR, end=DAY_TWO, tenant_id=acme.tenant_id, project_id="speech"))
    await gateway.publish(released(HOUR, end=DAY_ONE, tenant_id=globex.tenant_id, project_id="search"))
    await gateway.publish(
        released(HOUR, end=DAY_TWO, tenant_id=globex.tenant_id, project_id="search", gpu_model="A100")
    )
    await gateway.publish(
        released(HOUR, end=DAY_TWO, tenant_id=globex.tenant_id, project_id="search", gpu_model="L40S")
    )
    idle = [("H100", f"GPU-{n}") for n in range(4)] + [("A100", "GPU-9")]
    for model, gpu in idle:
        await gateway.publish(
            sample(
                DAY_ONE,
                tenant_id="_fleet",
                project_id="_idle",
                gpu_model=model,
                gpu_uuid=gpu,
                utilization=0.0,
                window_s=HOUR,
            )
        )
    fleet = await eventually(
        lambda: chargeback(gateway, OPERATOR),
        lambda r: (
            r.status_code == 200
            and capacity(r.json()) == {"A100": "7200", "H100": "28800"}
            and len(r.json()["unrated"]) == 1
        ),
        timeout=20.0,
    )
    assert capacity(fleet.json()) == {"A100": "7200", "H100": "28800"}, fleet.text
    return acme, globex


async def chargeback(gateway: Gateway, headers: dict[str, str], **params: str) -> httpx.Response:
    return await gateway.http.get("/v1/chargeback", params={"period": PERIOD} | params, headers=headers)


def capacity(body: dict[str, Any]) -> dict[str, str]:
    return {m["gpu_model"]: m["capacity_gpu_seconds"] for m in body.get("models", [])}


def lines(body: dict[str, Any]) -> dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]:
    return {
        (line["project_id"], line["gpu_model"]): (
            Decimal(line["usage_cost"]),
            Decimal(line["idle_share"]),
            Decimal(line["total"]),
        )
        for line in body["lines"]
    }


def amounts(body: dict[str, Any]) -> list[Decimal]:
    money = [Decimal(v) for ln in body["lines"] for v in (ln["usage_cost"], ln["idle_share"], ln["total"])]
    money += [
        Decimal(m[k]) for m in body.get("models", []) for k in ("idle_cost", "idle_line", "idle_gpu_seconds")
    ]
    return [*money, Decimal(body["total"])]


async def test_the_idle_cost_is_shared_by_usage_or_shown_as_its_own_line(gateway: Gateway) -> None:
    acme, globex = await metered_fleet(gateway)

    shared = (await chargeback(gateway, OPERATOR)).json()  # the operator's default: shared
    separate = (await chargeback(gateway, OPERATOR, idle="separate_line")).json()

    # H100: 8 GPU-hours at 3.60, 4 of them idle (14.40) shared 2:1:1; A100: 2 at 1.80, 1 idle (1.80).
    assert (shared["scope"], shared["idle"], shared["currency"]) == ("fleet", "shared", "USD")
    assert {(ln["tenant_id"], ln["project_id"]) for ln in shared["lines"]} == {
        (acme.tenant_id, "vision"),
        (acme.tenant_id, "speech"),
        (globex.tenant_id, "search"),
    }
    assert lines(shared) == {
        ("vision", "H100"): (Decimal("7.20"), Decimal("7.20"), Decimal("14.40")),
        ("speech", "H100"): (Decimal("3.60"), Decimal("3.60"), Decimal("7.20")),
        ("search", "H100"): (Decimal("3.60"), Decimal("3.60"), Decimal("7.20")),
        ("search", "A100"): (Decimal("1.80"), Decimal("1.80"), Decimal("3.60")),
    }
    assert [(m["gpu_model"], Decimal(m["idle_cost"]), Decimal(m["idle_line"])) for m in shared["models"]] == [
        ("A100", Decimal("1.80"), 0),
        ("H100", Decimal("14.40"), 0),
    ]
    assert shared["unrated"] == [{"gpu_model": "L40S", "used_gpu_seconds": "3600", "idle_gpu_seconds": "0"}]
    assert all(share == 0 and total == cost for cost, share, total in lines(separate).values())
    assert [(m["gpu_model"], Decimal(m["idle_line"])) for m in separate["models"]] == [
        ("A100", Decimal("1.80")),
        ("H100", Decimal("14.40")),
    ]
    for body in (shared, separate):  # totals add up to the cent, whichever the mode, and nothing is negative
        idle_lines = sum(Decimal(m["idle_line"]) for m in body["models"])
        assert Decimal(body["total"]) == sum(total for *_, total in lines(body).values()) + idle_lines
        assert Decimal(body["total"]) == Decimal("32.40")
        assert all(amount >= 0 for amount in amounts(body))


async def test_a_tenant_sees_its_own_projects_and_idle_shares_only(gateway: Gateway) -> None:
    acme, globex = await metered_fleet(gateway)
    viewer = bearer(await gateway.new_key(acme, "viewer"))

    own = await chargeback(gateway, viewer)
    own_separate = await chargeback(gateway, viewer, idle="separate_line")
    globex_by_operator = await chargeback(gateway, OPERATOR, tenant_id=globex.tenant_id)

    assert own.status_code == 200, own.text
    body = own.json()
    assert (body["scope"], body["tenant_id"]) == ("tenant", acme.tenant_id)
    assert lines(body) == {
        ("vision", "H100"): (Decimal("7.20"), Decimal("7.20"), Decimal("14.40")),
        ("speech", "H100"): (Decimal("3.60"), Decimal("3.60"), Decimal("7.20")),
    }
    assert Decimal(body["total"]) == Decimal("21.60")
    # Nothing of globex, nor the fleet's capacity or idle line (with acme's figures, they would tell
    # what the others used).
    for shown in (own, own_separate):
        assert globex.tenant_id not in shown.text and "search" not in shown.text
        assert "models" not in shown.json() and "capacity_gpu_seconds" not in shown.text
    assert Decimal(own_separate.json()["total"]) == Decimal(
        "10.80"
    )  # usage only: the idle line is the fleet's
    assert Decimal(globex_by_operator.json()["total"]) == Decimal("10.80")
    # Its own GPU-seconds on a model without a rate: listed, not priced, and without the fleet's idle time.
    assert globex_by_operator.json()["unrated"] == [{"gpu_model": "L40S", "used_gpu_seconds": "3600"}]
    assert body["unrated"] == []
    assert Decimal(body["total"]) + Decimal(globex_by_operator.json()["total"]) == Decimal("32.40")

    another = await chargeback(gateway, viewer, tenant_id=globex.tenant_id)
    assert_problem(another, 404)


async def test_bad_chargeback_queries_are_problems(gateway: Gateway) -> None:
    acme = await gateway.new_tenant("acme")
    key = bearer(acme.admin_key)

    bad_period = await chargeback(gateway, key, period="2026-13")
    bad_mode = await chargeback(gateway, key, idle="evenly")
    both = await chargeback(gateway, OPERATOR, period="January", idle="evenly")
    no_key = await gateway.http.get("/v1/chargeback", params={"period": PERIOD})
    nothing_yet = await chargeback(gateway, key)

    assert [e["field"] for e in assert_problem(bad_period, 422)["errors"]] == ["period"]
    assert [e["field"] for e in assert_problem(bad_mode, 422)["errors"]] == ["idle"]
    assert [e["field"] for e in assert_problem(both, 422)["errors"]] == ["period", "idle"]
    assert_problem(no_key, 401)
    assert nothing_yet.status_code == 200 and nothing_yet.json()["lines"] == []
    assert Decimal(nothing_yet.json()["total"]) == 0
