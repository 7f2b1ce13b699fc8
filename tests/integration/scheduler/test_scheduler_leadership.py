"""One scheduler decides: the lease holder places jobs, a standby takes over with a higher epoch, and a
stale leader's writes are refused by the fence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.scheduler.adapters.pg_cycle import PgCycleStore
from services.scheduler.app.ports import StaleEpoch
from shared.events.scheduler import AllocationBound, NodeStateChanged
from tests.integration.scheduler.harness import Bus, Schedulers, eventually, leader_epoch


async def test_a_standby_stays_passive_then_takes_over_with_a_higher_epoch(
    bus: Bus, schedulers: Schedulers
) -> None:
    first = await schedulers.start(instance_id="first")
    first_epoch = await leader_epoch(first)
    standby = await schedulers.start(instance_id="standby")
    await bus.register("n1", gpus=4)
    await bus.wait_for(NodeStateChanged, node_id="n1")

    await bus.submit("before", gpus=1)
    assert (await bus.wait_for(AllocationBound, job_id="before")).epoch == first_epoch
    await eventually(
        lambda: standby.leadership and standby.leadership.rounds >= 2, what="two standby lease rounds"
    )
    assert standby.leadership is not None and standby.leadership.epoch is None

    await schedulers.stop(first)
    standby_epoch = await leader_epoch(standby)
    await bus.submit("after", gpus=1)

    assert standby_epoch > first_epoch
    after = await bus.wait_for(AllocationBound, job_id="after")
    assert (after.epoch, after.node_id) == (standby_epoch, "n1")
    assert not set(after.gpu_uuids) & set((await bus.wait_for(AllocationBound, job_id="before")).gpu_uuids)


async def test_a_write_under_a_stale_epoch_is_refused(bus: Bus, schedulers: Schedulers) -> None:
    host = await schedulers.start()
    epoch = await leader_epoch(host)
    await bus.register("n1", gpus=1)
    await bus.submit("j1", gpus=1)
    await bus.wait_for(AllocationBound, job_id="j1")
    store = PgCycleStore(host.db)

    # Under the current epoch this would declare n1 lost (it is silent since before "now").
    with pytest.raises(StaleEpoch):
        async with store.fenced(epoch - 1) as work:
            await work.declare_lost_nodes(datetime.now(UTC), datetime.now(UTC))

    assert await host.db.pool.fetchval("SELECT epoch FROM leader_fence") == epoch
    assert await host.db.pool.fetchval("SELECT state FROM nodes WHERE node_id = 'n1'") == "ready"
    # The same write under the current epoch goes through: it was the fence that refused it.
    async with store.fenced(epoch) as work:
        assert await work.declare_lost_nodes(datetime.now(UTC), datetime.now(UTC)) == ["n1"]
