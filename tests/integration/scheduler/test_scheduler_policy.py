"""The live scheduler decides through the policy engine: priority order, preemption, maximum runtime."""

from __future__ import annotations

from datetime import timedelta

from shared.events.jobs import JobState
from shared.events.scheduler import AllocationBound, AllocationReleased, JobStateChanged, StopWorkload
from tests.integration.scheduler.harness import Bus, Schedulers, eventually, leader_epoch


def latest(bus: Bus, job_id: str) -> JobStateChanged:
    return max(bus.events(JobStateChanged, job_id=job_id), key=lambda e: e.version)


async def test_a_higher_priority_job_submitted_later_is_placed_first(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start())
    # Both wait (no node yet), the low-priority one first.
    await bus.submit("low", gpus=2, priority_class="normal")
    await bus.wait_for(JobStateChanged, job_id="low", version=2)
    await bus.submit("high", gpus=2, priority_class="high")
    await bus.wait_for(JobStateChanged, job_id="high", version=2)

    # Room for one of them.
    await bus.register("n1", gpus=2)

    bound = await bus.wait_for(AllocationBound, job_id="high")
    assert bound.node_id == "n1"
    waiting = latest(bus, "low")
    assert waiting.state is JobState.PENDING and waiting.reason.startswith("capacity: ")
    assert not bus.events(AllocationBound, job_id="low")


async def test_a_high_priority_job_preempts_a_low_one_which_is_requeued_and_placed_again(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start(scheduler_min_runtime_s=0.2, scheduler_preemption_grace_s=7.0))
    await bus.register("n1", gpus=2)
    await bus.submit("low", gpus=2, priority_class="normal")
    low = await bus.wait_for(AllocationBound, job_id="low")
    await bus.started(low)
    await bus.wait_for(JobStateChanged, job_id="low", state=JobState.RUNNING)

    await bus.submit("high", gpus=2, priority_class="high")

    # 1. The low job is told to stop, with the pool's grace, and says for whom.
    stop = await bus.wait_for(StopWorkload, allocation_id=low.allocation_id)
    assert (stop.node_id, stop.grace_s) == ("n1", 7.0)
    assert "for job high" in stop.reason
    preempted = await bus.wait_for(JobStateChanged, job_id="low", state=JobState.PREEMPTED)
    assert "for job high" in preempted.reason
    # Its GPUs stay bound until the agent confirms the stop.
    assert not bus.events(AllocationBound, job_id="high")

    # 2. Stopped: its allocation is released, it goes back to the queue, and the high job gets its GPUs.
    await bus.exited(low, code=143, stopped=True)
    # (An earlier pending event may exist if the job arrived before the node did: look past it.)
    requeued = await bus.wait_for(JobStateChanged, job_id="low", version=preempted.version + 1)
    assert requeued.state is JobState.PENDING
    assert "for job high" in requeued.reason and requeued.reason.endswith("; requeued")
    released = await bus.wait_for(AllocationReleased, allocation_id=low.allocation_id)
    assert released.reason.startswith("stopped: preempted for job high")
    high = await bus.wait_for(AllocationBound, job_id="high")
    assert sorted(high.gpu_uuids) == sorted(low.gpu_uuids)

    # 3. When the high job ends, the low one is placed again.
    await bus.started(high)
    await bus.exited(high, code=0)
    await bus.wait_for(JobStateChanged, job_id="high", state=JobState.SUCCEEDED)
    await eventually(lambda: len(bus.events(AllocationBound, job_id="low")) == 2, what="low bound again")
    again = bus.events(AllocationBound, job_id="low")[1]
    assert again.allocation_id != low.allocation_id and again.node_id == "n1"


async def test_a_job_past_its_maximum_runtime_is_stopped_and_fails(bus: Bus, schedulers: Schedulers) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=1)
    await bus.submit("bounded", gpus=1, max_runtime_s=2)
    bound = await bus.wait_for(AllocationBound, job_id="bounded")
    started = await bus.started(bound)
    running = await bus.wait_for(JobStateChanged, job_id="bounded", state=JobState.RUNNING)

    stop = await bus.wait_for(StopWorkload, allocation_id=bound.allocation_id)
    assert stop.reason == "maximum runtime of 2 s exceeded"
    assert stop.occurred_at - started.occurred_at >= timedelta(seconds=2)
    # Still running until the agent confirms, and saying why it is ending.
    ending = await bus.wait_for(JobStateChanged, job_id="bounded", version=running.version + 1)
    assert ending.state is JobState.RUNNING
    assert ending.reason == "failing: maximum runtime of 2 s exceeded; waiting for its replicas to stop"

    await bus.exited(bound, code=143, stopped=True)

    failed = await bus.wait_for(JobStateChanged, job_id="bounded", state=JobState.FAILED)
    assert failed.reason == "maximum runtime of 2 s exceeded"
    released = await bus.wait_for(AllocationReleased, allocation_id=bound.allocation_id)
    assert released.reason == "stopped: maximum runtime of 2 s exceeded"
    assert len(bus.events(StopWorkload, job_id="bounded")) == 1
