"""The scheduler end to end on a real nats-server and PostgreSQL: place, run, finish, cancel, lose a node."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from shared.events.agent import RunningWorkload
from shared.events.jobs import JobState
from shared.events.scheduler import (
    AllocationBound,
    AllocationReleased,
    JobStateChanged,
    NodeStateChanged,
    StartWorkload,
    StopWorkload,
)
from tests.integration.scheduler.harness import Bus, Schedulers, eventually, leader_epoch, now


def states(bus: Bus, job_id: str) -> list[tuple[int, JobState]]:
    return [(e.version, e.state) for e in bus.events(JobStateChanged, job_id=job_id)]


async def test_a_job_is_bound_started_and_succeeds_with_its_interval_released(
    bus: Bus, schedulers: Schedulers
) -> None:
    epoch = await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=4)
    await bus.wait_for(NodeStateChanged, node_id="n1", state="ready")

    await bus.submit("j1", gpus=2)

    bound = await bus.wait_for(AllocationBound, job_id="j1")
    start = await bus.wait_for(StartWorkload, job_id="j1")
    assert (bound.node_id, bound.epoch, bound.gpu_model, bound.tenant_id) == ("n1", epoch, "A100", "ten_a")
    assert len(bound.gpu_uuids) == 2 and all(u.startswith("GPU-n1-") for u in bound.gpu_uuids)
    assert (start.node_id, start.epoch, start.gpu_uuids, start.allocation_id) == (
        "n1",
        epoch,
        bound.gpu_uuids,
        bound.allocation_id,
    )
    await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.SCHEDULED)

    await bus.started(bound)
    await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.RUNNING)

    exit_event = await bus.exited(bound, code=0)
    released = await bus.wait_for(AllocationReleased, job_id="j1")
    await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.SUCCEEDED)
    assert released.allocation_id == bound.allocation_id
    assert (released.bound_at, released.released_at) == (bound.bound_at, exit_event.occurred_at)
    assert (released.gpu_count, released.gpu_model, released.epoch) == (2, "A100", epoch)
    # Version 1 is the submission (pending) itself.
    assert states(bus, "j1") == [
        (2, JobState.ADMITTED),
        (3, JobState.SCHEDULED),
        (4, JobState.RUNNING),
        (5, JobState.SUCCEEDED),
    ]


async def test_a_gpu_freed_and_bound_again_is_never_billed_twice_when_the_agents_clock_leads(
    bus: Bus, schedulers: Schedulers
) -> None:
    # The chaos run found it: an exit stamped after the cycle's now released its GPU at that later
    # time, while the same cycle bound the GPU again at now: both billed for the difference.
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=1)
    await bus.submit("first")
    first = await bus.wait_for(AllocationBound, job_id="first")
    await bus.started(first)
    await bus.submit("second")
    await asyncio.sleep(0.5)  # "second" waits for the GPU

    await bus.exited(first, at=now() + timedelta(seconds=30))

    second = await bus.wait_for(AllocationBound, job_id="second")
    released = await bus.wait_for(AllocationReleased, job_id="first")
    assert second.gpu_uuids == first.gpu_uuids
    assert released.released_at <= second.bound_at


async def test_a_failed_replica_fails_the_job_after_its_other_replica_stops(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=2)
    await bus.register("n2", gpus=2)
    await bus.submit("gang", replicas=2, gpus=2)
    await eventually(lambda: len(bus.events(AllocationBound, job_id="gang")) == 2, what="both replicas bound")
    first, second = sorted(bus.events(AllocationBound, job_id="gang"), key=lambda b: b.replica)
    assert {first.node_id, second.node_id} == {"n1", "n2"}

    await bus.exited(first, code=3)

    stop = await bus.wait_for(StopWorkload, allocation_id=second.allocation_id)
    assert (stop.node_id, stop.reason) == (second.node_id, "replica 0 exited with code 3")
    assert not bus.events(JobStateChanged, job_id="gang", state=JobState.FAILED)
    await bus.exited(second, code=143, stopped=True)
    failed = await bus.wait_for(JobStateChanged, job_id="gang", state=JobState.FAILED)
    assert failed.reason == "replica 0 exited with code 3"
    assert len(bus.events(AllocationReleased, job_id="gang")) == 2


async def test_cancel_frees_the_gpus_only_when_the_agent_confirms_the_stop(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=2)
    await bus.submit("first", gpus=2)
    bound = await bus.wait_for(AllocationBound, job_id="first")
    await bus.started(bound)
    await bus.wait_for(JobStateChanged, job_id="first", state=JobState.RUNNING)

    await bus.cancel("first")
    await bus.submit("second", gpus=2)

    stop = await bus.wait_for(StopWorkload, allocation_id=bound.allocation_id)
    assert (stop.node_id, stop.epoch) == ("n1", bound.epoch)
    # The GPUs are still bound to "first", so "second" waits for them to be released, and says so.
    waiting = await bus.wait_for(JobStateChanged, job_id="second", version=2)
    assert waiting.reason == "capacity: waiting for 1 preempted or stopping job(s) to release their GPUs"
    assert not bus.events(JobStateChanged, job_id="first", state=JobState.CANCELLED)

    exit_event = await bus.exited(bound, code=143, stopped=True)

    released = await bus.wait_for(AllocationReleased, job_id="first")
    assert released.released_at == exit_event.occurred_at
    assert released.reason == "stopped: cancelled on request"
    await bus.wait_for(JobStateChanged, job_id="first", state=JobState.CANCELLED)
    rebound = await bus.wait_for(AllocationBound, job_id="second")
    assert sorted(rebound.gpu_uuids) == sorted(bound.gpu_uuids)


async def test_a_pending_job_is_cancelled_at_once_and_tenants_cannot_cancel_others_jobs(
    bus: Bus, schedulers: Schedulers
) -> None:
    host = await schedulers.start()
    await leader_epoch(host)
    await bus.submit("queued", gpus=1)
    await bus.wait_for(JobStateChanged, job_id="queued", version=2)  # no node: a capacity reason

    await bus.cancel("queued", tenant_id="ten_intruder")
    await bus.cancel("queued")

    cancelled = await bus.wait_for(JobStateChanged, job_id="queued", state=JobState.CANCELLED)
    assert cancelled.version == 3
    reasons = [r["reason"] for r in await host.db.fetch("SELECT reason FROM dead_letters")]
    assert reasons == ["rejected: tenant ten_intruder has no job queued"]


async def test_a_lost_node_releases_at_declaration_and_its_job_is_placed_again(
    bus: Bus, schedulers: Schedulers
) -> None:
    epoch = await leader_epoch(await schedulers.start(node_lost_after_s=2.0))
    n1 = await bus.register("n1", gpus=2)
    await bus.register("n2", gpus=2)
    await bus.wait_for(NodeStateChanged, node_id="n2", state="ready")

    async def keep_alive() -> None:
        while True:
            await bus.heartbeat("n2")
            await asyncio.sleep(0.2)

    beating = asyncio.create_task(keep_alive())
    try:
        await bus.submit("j1", gpus=2)
        first = await bus.wait_for(AllocationBound, job_id="j1")
        assert first.node_id == "n1"  # both fit as well: the first in node order
        await bus.started(first)
        await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.RUNNING)

        # n1 sends no heartbeat: about two seconds after its registration it is declared lost.
        lost = await bus.wait_for(NodeStateChanged, node_id="n1", state="lost")
        released = await bus.wait_for(AllocationReleased, allocation_id=first.allocation_id)
        assert released.reason == "node lost"
        assert released.released_at == lost.occurred_at
        assert released.released_at - n1.occurred_at >= timedelta(seconds=2.0)
        requeued = await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.PENDING, version=5)
        assert requeued.reason == "node n1 lost; requeued"

        second = await bus.wait_for(AllocationBound, job_id="j1", node_id="n2")
        assert second.allocation_id != first.allocation_id and second.epoch == epoch
        assert not bus.events(NodeStateChanged, node_id="n2", state="lost")
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def test_a_new_leader_gives_nodes_time_to_be_heard_before_declaring_them_lost(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start(node_lost_after_s=2.0))
    # A registration that waited in the stream while no scheduler ran: older than node_lost_after_s.
    await bus.register("n1", gpus=2, at=now() - timedelta(seconds=30))
    await bus.wait_for(NodeStateChanged, node_id="n1", state="ready")

    # Silent for a few cycles (0.2 s apart), still within the new leader's first node_lost_after_s, then
    # heard from: the node stays ready.
    await asyncio.sleep(0.6)
    deadline = asyncio.get_running_loop().time() + 3.0
    while asyncio.get_running_loop().time() < deadline:
        await bus.heartbeat("n1")
        await asyncio.sleep(0.2)

    assert not bus.events(NodeStateChanged, node_id="n1", state="lost")


async def test_a_re_registered_node_is_reconciled_with_what_its_agent_still_runs(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=2)
    await bus.wait_for(NodeStateChanged, node_id="n1")
    await bus.submit("j1", gpus=2)
    first = await bus.wait_for(AllocationBound, job_id="j1")
    await bus.started(first)
    await bus.wait_for(JobStateChanged, job_id="j1", state=JobState.RUNNING)

    # The agent restarted: j1's workload is gone, and something the scheduler never bound still runs.
    ghost = RunningWorkload(job_id="old", allocation_id="alc-old-1-0", replica=0, pid=7)
    await bus.register("n1", gpus=2, running=[ghost])

    stop = await bus.wait_for(StopWorkload, allocation_id="alc-old-1-0")
    assert stop.node_id == "n1"
    released = await bus.wait_for(AllocationReleased, allocation_id=first.allocation_id)
    assert released.reason == "not running when its node re-registered"
    requeued = await bus.wait_for(JobStateChanged, job_id="j1", version=5)
    assert (requeued.state, requeued.reason) == (
        JobState.PENDING,
        "replica 0 was gone when node n1 re-registered; requeued",
    )
    await eventually(lambda: len(bus.events(AllocationBound, job_id="j1")) == 2, what="j1 bound again")
    again = bus.events(AllocationBound, job_id="j1")[1]
    assert (again.node_id, again.epoch) == ("n1", first.epoch)
    assert again.allocation_id != first.allocation_id


async def test_a_quota_holds_a_job_back_until_it_is_raised(bus: Bus, schedulers: Schedulers) -> None:
    host = await schedulers.start()
    await leader_epoch(host)
    await bus.register("n1", gpus=4)
    await bus.set_quota("A100", 1)
    await bus.set_quota("H100", 8)
    await bus.wait_for(NodeStateChanged, node_id="n1")

    async def both_quotas_recorded() -> bool:
        return bool(await host.db.pool.fetchval("SELECT count(*) = 2 FROM quotas"))

    await eventually(both_quotas_recorded, what="quotas recorded")

    await bus.submit("j1", gpus=2, gpu_models=["A100"])

    waiting = await bus.wait_for(JobStateChanged, job_id="j1", version=2)
    assert (waiting.state, waiting.reason) == (
        JobState.PENDING,
        "quota: queue prj_a would use 2 A100 GPUs, over its nominal quota of 1, and has no cohort to borrow from",
    )
    await bus.set_quota("A100", 2)
    bound = await bus.wait_for(AllocationBound, job_id="j1")
    assert (bound.gpu_model, len(bound.gpu_uuids)) == ("A100", 2)
