"""Pools in the live scheduler: a node joins the pool its label names, a job runs only on nodes of its
pool, and each pool orders its queue with its own policy."""

from __future__ import annotations

from shared.events.jobs import JobState
from shared.events.scheduler import AllocationBound, JobStateChanged
from tests.integration.scheduler.harness import Bus, Schedulers, eventually, latest, leader_epoch

RESEARCH = {"pool": "research"}


async def submit_and_wait(bus: Bus, job_id: str, **spec: object) -> JobStateChanged:
    """Submit a 2-GPU job and wait for its first pending reason (so submissions are ordered)."""
    await bus.submit(job_id, gpus=2, **spec)
    return await bus.wait_for(JobStateChanged, job_id=job_id, version=2)


async def test_each_pool_places_its_jobs_on_its_own_nodes_with_its_own_policy(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(
        await schedulers.start(scheduler_queueing="fifo", scheduler_pools={"research": {"queueing": "las"}})
    )
    # In each pool a low-priority job, then a high-priority one; no node in either pool yet.
    default_low = await submit_and_wait(bus, "default-low", priority_class="normal")
    research_low = await submit_and_wait(bus, "research-low", priority_class="normal", **RESEARCH)
    await submit_and_wait(bus, "default-high", priority_class="high")
    await submit_and_wait(bus, "research-high", priority_class="high", **RESEARCH)
    assert default_low.reason == "capacity: pool default has no nodes"
    assert research_low.reason == "capacity: pool research has no nodes"

    # 1. A node without a pool label joins the default pool: only the default pool's jobs move.
    await bus.register("d1", gpus=2)
    default_bound = await bus.wait_for(AllocationBound, job_id="default-low")
    assert default_bound.node_id == "d1"
    # fifo: the job submitted first goes first, however important the later one.
    await eventually(
        lambda: (
            latest(bus, "default-high").reason.startswith("capacity: ")
            and latest(bus, "default-high").reason != "capacity: pool default has no nodes"
        ),
        what="default-high waiting for the default pool's GPUs",
    )
    for job_id in ("research-low", "research-high"):
        assert latest(bus, job_id).reason == "capacity: pool research has no nodes"
        assert not bus.events(AllocationBound, job_id=job_id)

    # 2. A node labelled pool=research takes research jobs only, in the research pool's order:
    #    least attained service keeps priority classes, so the later, more important job goes first.
    await bus.register("r1", gpus=2, labels=RESEARCH)
    research_bound = await bus.wait_for(AllocationBound, job_id="research-high")
    assert research_bound.node_id == "r1"
    await eventually(
        lambda: latest(bus, "research-low").reason != "capacity: pool research has no nodes",
        what="research-low waiting for the research pool's GPUs",
    )
    waiting = latest(bus, "research-low")
    assert waiting.state is JobState.PENDING and waiting.reason.startswith("capacity: ")
    assert not bus.events(AllocationBound, job_id="research-low")
    assert not bus.events(AllocationBound, job_id="default-high")  # r1 had room only for research work

    # 3. When the default pool's job ends, the default pool's next job takes d1.
    await bus.started(default_bound)
    await bus.exited(default_bound, code=0)
    await bus.wait_for(JobStateChanged, job_id="default-low", state=JobState.SUCCEEDED)
    assert (await bus.wait_for(AllocationBound, job_id="default-high")).node_id == "d1"
    assert not bus.events(AllocationBound, job_id="research-low")
