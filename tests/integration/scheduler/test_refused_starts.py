"""Starts that never ran, on a real nats-server and PostgreSQL: refused by the node, or never reported
within the start timeout. The allocation is released at its bind (billed nothing) and the job requeued."""

from __future__ import annotations

import asyncio
import contextlib

from services.scheduler.domain.lifecycle import MAX_REFUSED_STARTS
from shared.events.jobs import JobState, RestartPolicy
from shared.events.scheduler import AllocationBound, AllocationReleased, JobStateChanged, NodeStateChanged
from tests.integration.scheduler.harness import Bus, Schedulers, eventually, latest, leader_epoch


async def bound_attempt(bus: Bus, job_id: str, attempt: int) -> AllocationBound:
    bounds = await eventually(
        lambda: sorted(bus.events(AllocationBound, job_id=job_id), key=lambda b: b.bound_at)[attempt - 1 :],
        what=f"attempt {attempt} of {job_id} bound",
    )
    return bounds[0]  # type: ignore[no-any-return]


async def test_a_refused_start_requeues_the_job_until_refused_too_often(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=2)
    await bus.wait_for(NodeStateChanged, node_id="n1", state="ready")
    await bus.submit("j1", restart_policy=RestartPolicy.FAIL)  # it never ran: requeued all the same

    first = await bound_attempt(bus, "j1", 1)
    await bus.exited(first, code=125, refused=True)

    released = await bus.wait_for(AllocationReleased, allocation_id=first.allocation_id)
    assert released.released_at == first.bound_at  # billed nothing
    assert released.reason == "its start was refused by its node"
    second = await bound_attempt(bus, "j1", 2)
    assert second.allocation_id != first.allocation_id
    requeued = bus.events(JobStateChanged, job_id="j1", state=JobState.PENDING)
    assert "replica 0 was refused by node n1 (it never ran); requeued" in [e.reason for e in requeued]

    await bus.exited(second, code=125, refused=True)
    for attempt in range(3, MAX_REFUSED_STARTS + 1):
        await bus.exited(await bound_attempt(bus, "j1", attempt), code=125, refused=True)

    failed = await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.FAILED)
    assert failed.reason.endswith(f"its starts were refused {MAX_REFUSED_STARTS} times in a row")
    assert len(bus.events(AllocationBound, job_id="j1")) == MAX_REFUSED_STARTS


async def test_a_launch_the_job_cannot_make_still_fails_it(bus: Bus, schedulers: Schedulers) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=1)
    await bus.submit("bad")

    await bus.exited(await bound_attempt(bus, "bad", 1), code=125)  # bad command or environment

    failed = await bus.wait_for(JobStateChanged, job_id="bad", state=JobState.FAILED)
    assert failed.reason == "replica 0 exited with code 125"


async def test_an_allocation_whose_start_is_never_reported_is_released_after_the_timeout(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start(start_timeout_s=1.0))
    await bus.register("n1", gpus=1)
    await bus.wait_for(NodeStateChanged, node_id="n1", state="ready")

    async def heartbeats() -> None:  # the node is alive; it just never answers the start
        while True:
            await bus.heartbeat("n1")
            await asyncio.sleep(0.2)

    beating = asyncio.create_task(heartbeats())
    try:
        await bus.submit("j1")
        first = await bound_attempt(bus, "j1", 1)

        released = await bus.wait_for(AllocationReleased, allocation_id=first.allocation_id, timeout=15.0)
        assert released.released_at == first.bound_at  # billed nothing
        assert released.reason == "no start reported within the start timeout"
        second = await bound_attempt(bus, "j1", 2)
        requeued = bus.events(JobStateChanged, job_id="j1", state=JobState.PENDING)
        assert "replica 0 reported no start on node n1 within the start timeout; requeued" in [
            e.reason for e in requeued
        ]

        await bus.started(second)  # a start in time keeps its allocation
        await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.RUNNING)
        await asyncio.sleep(2.5)
        assert latest(bus, "j1").state is JobState.RUNNING
        assert bus.events(AllocationReleased, allocation_id=second.allocation_id) == []
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
