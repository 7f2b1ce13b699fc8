"""Fractional GPUs through the real scheduler, nats-server and PostgreSQL: half-GPU jobs share a GPU,
a share that does not fit waits, and a released share is given back to the GPU."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from shared.events.jobs import JobState
from shared.events.scheduler import AllocationBound, AllocationReleased, JobStateChanged, StartWorkload
from tests.integration.scheduler.harness import Bus, Schedulers, eventually, leader_epoch

HALF = Decimal("0.5")


async def shared_milli(database_url: str, uuid: str) -> tuple[int, str | None]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "scheduler"})
    try:
        row = await conn.fetchrow("SELECT shared_milli, allocation_id FROM gpus WHERE uuid = $1", uuid)
        assert row is not None
        return row["shared_milli"], row["allocation_id"]
    finally:
        await conn.close()


async def why_waiting(bus: Bus, job_id: str) -> JobStateChanged:
    """The job's latest state once the scheduler has given it a reason."""

    def with_reason() -> JobStateChanged | None:
        last = max(bus.events(JobStateChanged, job_id=job_id), key=lambda e: e.version, default=None)
        return last if last is not None and last.reason else None

    found: JobStateChanged = await eventually(with_reason, what=f"a reason for {job_id}")
    return found


async def test_two_half_gpu_jobs_share_one_gpu_while_a_third_and_a_whole_gpu_job_wait(
    bus: Bus, schedulers: Schedulers, fresh_database: str
) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=1)
    for job_id in ("a", "b"):
        await bus.submit(job_id, gpu_fraction=HALF)
    a = await bus.wait_for(AllocationBound, job_id="a")
    b = await bus.wait_for(AllocationBound, job_id="b")
    await bus.submit("c", gpu_fraction=HALF)
    await bus.submit("whole")

    # 1. Both halves on the one GPU, said so in the bind and the start command.
    assert a.gpu_uuids == b.gpu_uuids == ["GPU-n1-0"]
    assert a.gpu_share == b.gpu_share == HALF
    start = await bus.wait_for(StartWorkload, job_id="a")
    assert (start.gpu_uuids, start.gpu_share, start.env["AIFACTORY_GPU_SHARE"]) == (["GPU-n1-0"], HALF, "0.5")
    assert await shared_milli(fresh_database, "GPU-n1-0") == (1000, None)

    # 2. The GPU is fully shared: the third half and the whole-GPU job wait, for capacity.
    for waiting in ("c", "whole"):
        pending = await why_waiting(bus, waiting)
        assert pending.state is JobState.PENDING and pending.reason.startswith("capacity: ")
    assert not bus.events(AllocationBound, job_id="c") and not bus.events(AllocationBound, job_id="whole")

    # 3. A half released gives its share back, with the share on the billing event; the third half
    # takes it (it came before the whole-GPU job, which still waits).
    await bus.started(a)
    await bus.exited(a, code=0)
    released = await bus.wait_for(AllocationReleased, job_id="a")
    assert (released.gpu_count, released.gpu_share) == (1, HALF)
    c = await bus.wait_for(AllocationBound, job_id="c")
    assert (c.gpu_uuids, c.gpu_share) == (["GPU-n1-0"], HALF)
    await bus.wait_for(JobStateChanged, job_id="a", state=JobState.SUCCEEDED)
    assert not bus.events(AllocationBound, job_id="whole")


async def test_a_gpu_freed_of_every_share_can_be_bound_whole_again(
    bus: Bus, schedulers: Schedulers, fresh_database: str
) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=1)
    await bus.submit("quarter", gpu_fraction=Decimal("0.25"))
    quarter = await bus.wait_for(AllocationBound, job_id="quarter")
    await bus.submit("whole")
    assert (await why_waiting(bus, "whole")).reason.startswith("capacity: ")

    await bus.exited(quarter, code=0)

    whole = await bus.wait_for(AllocationBound, job_id="whole")
    assert (whole.gpu_uuids, whole.gpu_share) == (["GPU-n1-0"], 1)
    assert await shared_milli(fresh_database, "GPU-n1-0") == (0, whole.allocation_id)
