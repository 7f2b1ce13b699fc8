"""NATS loses its data (the lease bucket is deleted, so KV revisions restart at 1): the scheduler elected
afterwards still leads with an epoch above every earlier one, places jobs, and agents accept its commands."""

from __future__ import annotations

from services.agent.domain.fencing import Verdict, judge_start
from services.agent.domain.state import AgentState
from services.scheduler.adapters.lease import LEASE_BUCKET, ensure_lease_bucket
from services.scheduler.main import SchedulerHost
from shared.events.scheduler import AllocationBound, NodeStateChanged, StartWorkload
from tests.integration.scheduler.harness import Bus, Schedulers, eventually, leader_epoch

NODE_GPUS = ["GPU-n1-0", "GPU-n1-1"]


async def _lead_and_place_before(bus: Bus, schedulers: Schedulers) -> tuple[SchedulerHost, StartWorkload]:
    # Revisions well above 1, so that a bucket started afresh is clearly behind the fence in PostgreSQL.
    kv = await ensure_lease_bucket(bus.js, 1.5)
    for _ in range(50):
        await kv.put("padding", b"x")
    first = await schedulers.start(instance_id="first")
    await leader_epoch(first)
    await bus.register("n1", gpus=2)
    await bus.wait_for(NodeStateChanged, node_id="n1")
    await bus.submit("before", gpus=1)
    bound = await bus.wait_for(AllocationBound, job_id="before")
    return first, await bus.wait_for(StartWorkload, allocation_id=bound.allocation_id)


async def _places_after_with_a_higher_epoch(bus: Bus, leader: SchedulerHost, before: StartWorkload) -> None:
    # Elected anew after the loss: a leader that lived through it had to step down first.
    def new_epoch() -> int | None:
        epoch = leader.leadership.epoch if leader.leadership else None
        return None if epoch == before.epoch else epoch

    epoch: int = await eventually(new_epoch, timeout=15, what="a new election")
    assert epoch > before.epoch
    await bus.submit("after", gpus=1)
    bound = await bus.wait_for(AllocationBound, timeout=15, job_id="after")
    assert bound.epoch == epoch
    start = await bus.wait_for(StartWorkload, allocation_id=bound.allocation_id)
    # An agent that ran the old leader's command accepts the new leader's.
    agent = AgentState()
    assert judge_start(agent, "n1", before, NODE_GPUS) is Verdict.APPLY
    agent.observe_epoch(before.epoch)
    assert judge_start(agent, "n1", start, NODE_GPUS) is Verdict.APPLY


async def test_a_scheduler_elected_after_nats_lost_its_data_places_jobs(
    bus: Bus, schedulers: Schedulers
) -> None:
    first, before = await _lead_and_place_before(bus, schedulers)
    await schedulers.stop(first)

    await bus.js.delete_key_value(LEASE_BUCKET)
    second = await schedulers.start(instance_id="second")

    await _places_after_with_a_higher_epoch(bus, second, before)


async def test_a_leader_that_lives_through_the_loss_leads_again(bus: Bus, schedulers: Schedulers) -> None:
    first, before = await _lead_and_place_before(bus, schedulers)

    await bus.js.delete_key_value(LEASE_BUCKET)

    await _places_after_with_a_higher_epoch(bus, first, before)
