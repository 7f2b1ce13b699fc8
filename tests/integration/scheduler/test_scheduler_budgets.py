"""Budget-aware admission on the real nats-server and PostgreSQL: metering's BudgetExhausted holds new
work of the project (or tenant) back; what runs continues or stops as the budget says; BudgetRestored
admits again; an exhaustion of another period admits as if none were there."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from services.scheduler.adapters.consumers import BUDGETS_DURABLE
from services.scheduler.main import SchedulerHost
from shared.events.jobs import JobState
from shared.events.metering import BudgetExhausted, BudgetRestored
from shared.events.scheduler import AllocationBound, JobStateChanged, NodeStateChanged, StopWorkload
from shared.messaging.streams import METERING
from tests.integration.scheduler.harness import (
    PROJECT,
    TENANT,
    Bus,
    Schedulers,
    eventually,
    leader_epoch,
    now,
    open_bus,
)


async def _forget_budgets(bus: Bus) -> None:
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_consumer(METERING.name, BUDGETS_DURABLE)
    await bus.js.purge_stream(METERING.name)


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    bus = await open_bus(nats_url)
    await _forget_budgets(bus)
    yield bus
    await _forget_budgets(bus)
    await bus.nc.close()


def budget_fields(**changes: Any) -> dict[str, Any]:
    moment = now()
    return {
        "occurred_at": moment,
        "tenant_id": TENANT,
        "budget_id": f"bud_{PROJECT}",
        "project_id": PROJECT,
        "period": f"{moment.year:04d}-{moment.month:02d}",
        "amount": Decimal(100),
        "currency": "USD",
        "spend": Decimal(100),
        "forecast_spend": Decimal(150),
    } | changes


def exhausted(on_exhaustion: str = "continue", **changes: Any) -> BudgetExhausted:
    return BudgetExhausted.model_validate(budget_fields(on_exhaustion=on_exhaustion, **changes))


def restored(**changes: Any) -> BudgetRestored:
    return BudgetRestored.model_validate(budget_fields(reason="raised to 200", **changes))


async def running_job(bus: Bus, job_id: str) -> AllocationBound:
    await bus.submit(job_id, gpus=1)
    bound = await bus.wait_for(AllocationBound, job_id=job_id)
    await bus.started(bound)
    await bus.wait_for(JobStateChanged, job_id=job_id, state=JobState.RUNNING)
    return bound


async def recorded(host: SchedulerHost, exhaustions: int) -> None:
    """Wait until the scheduler holds this many exhausted budgets (its budget consumer is on its own)."""
    count = "SELECT count(*) FROM budget_exhaustions"
    await eventually(
        lambda: _equals(host.db.pool.fetchval(count), exhaustions), what=f"{exhaustions} exhaustions"
    )


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


def reasons(bus: Bus, job_id: str) -> list[str]:
    return [e.reason for e in bus.events(JobStateChanged, job_id=job_id)]


async def test_an_exhausted_budget_holds_new_work_until_restored_and_running_work_continues(
    bus: Bus, schedulers: Schedulers
) -> None:
    host = await schedulers.start()
    await leader_epoch(host)
    await bus.register("n1", gpus=4)
    await bus.wait_for(NodeStateChanged, node_id="n1", state="ready")
    await running_job(bus, "j1")

    await bus.publish(exhausted("continue"))
    await recorded(host, 1)
    await bus.submit("j2", gpus=1)
    held = f"budget: budget exhausted for project {PROJECT}"
    await eventually(lambda: held in reasons(bus, "j2"), what="j2 held for its budget")
    assert not bus.events(AllocationBound, job_id="j2")
    assert not bus.events(StopWorkload, job_id="j1"), "a budget that continues leaves running work alone"

    await bus.publish(restored())
    await bus.wait_for(AllocationBound, job_id="j2")
    assert not bus.events(StopWorkload, job_id="j1")


async def test_a_budget_that_stops_running_work_stops_and_fails_it(bus: Bus, schedulers: Schedulers) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=4)
    await bus.wait_for(NodeStateChanged, node_id="n1", state="ready")
    bound = await running_job(bus, "j1")

    await bus.publish(exhausted("stop"))

    stop = await bus.wait_for(StopWorkload, job_id="j1")
    assert stop.allocation_id == bound.allocation_id
    assert stop.reason.startswith(f"budget exhausted for project {PROJECT}")
    await bus.exited(bound, code=143, stopped=True)
    failed = await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.FAILED)
    assert failed.reason.startswith(f"budget exhausted for project {PROJECT}")


async def test_an_exhaustion_of_another_period_or_tenant_holds_nothing(
    bus: Bus, schedulers: Schedulers
) -> None:
    host = await schedulers.start()
    await leader_epoch(host)
    await bus.register("n1", gpus=4)
    await bus.wait_for(NodeStateChanged, node_id="n1", state="ready")
    await bus.publish(exhausted("stop", period="2020-01"))
    await bus.publish(exhausted("stop", budget_id="bud_other", tenant_id="ten_b", project_id="prj_b"))
    await recorded(host, 2)

    await running_job(bus, "j1")
    await bus.submit("j2", gpus=1)
    await bus.wait_for(AllocationBound, job_id="j2")
    assert not bus.events(StopWorkload, job_id="j1")
