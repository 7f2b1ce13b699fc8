"""Leadership over a lease: acquire when free, stay passive otherwise, step down when the lease is lost,
and lead under an epoch claimed from the fence that never goes back."""

from __future__ import annotations

import asyncio

import pytest

from services.scheduler.app.leadership import Leadership


class FakeLease:
    """One lease shared by several instances, like the KV key: create fails while someone holds it."""

    def __init__(self) -> None:
        self.holder: object | None = None
        self.revision = 0
        self.refusing_refresh = False

    def for_instance(self) -> InstanceLease:
        return InstanceLease(self)


class FakeFence:
    """The fence in PostgreSQL: above every epoch used, and not below the lease's revision."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch
        self.failing = False

    async def claim(self, lease_revision: int) -> int:
        if self.failing:
            raise ConnectionError("database unavailable")
        self.epoch = max(self.epoch + 1, lease_revision)
        return self.epoch


class InstanceLease:
    def __init__(self, shared: FakeLease) -> None:
        self._shared = shared

    async def acquire(self) -> int | None:
        if self._shared.holder is not None:
            return None
        self._shared.holder = self
        self._shared.revision += 1
        return self._shared.revision

    async def refresh(self) -> bool:
        return self._shared.holder is self and not self._shared.refusing_refresh

    async def release(self) -> None:
        if self._shared.holder is self:
            self._shared.holder = None


async def test_the_first_instance_leads_and_the_second_stays_passive_until_it_resigns() -> None:
    lease, fence = FakeLease(), FakeFence()
    first, second = (
        Leadership(lease.for_instance(), fence, ttl_s=10),
        Leadership(lease.for_instance(), fence, ttl_s=10),
    )
    elected: list[str] = []
    first.on_elected(lambda: elected.append("first"))
    second.on_elected(lambda: elected.append("second"))

    await first.tick()
    await second.tick()

    assert (first.epoch, second.epoch, elected) == (1, None, ["first"])
    await first.resign()
    await second.tick()
    assert (first.epoch, second.epoch, elected) == (None, 2, ["first", "second"])


async def test_a_refused_refresh_steps_down() -> None:
    lease = FakeLease()
    leader = Leadership(lease.for_instance(), FakeFence(), ttl_s=10)
    await leader.tick()
    lease.refusing_refresh = True

    await leader.tick()

    assert leader.epoch is None


async def test_an_epoch_not_refreshed_within_its_ttl_is_no_longer_used() -> None:
    leader = Leadership(FakeLease().for_instance(), FakeFence(), ttl_s=0.05)
    await leader.tick()
    assert leader.epoch == 1

    deadline = asyncio.get_running_loop().time() + 2
    while leader.epoch is not None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)

    assert leader.epoch is None


async def test_epochs_keep_growing_when_the_lease_revisions_restart() -> None:
    # NATS lost its data: the lease's revisions start again at 1, far below the epochs already used.
    lease, fence = FakeLease(), FakeFence(epoch=51)
    leader = Leadership(lease.for_instance(), fence, ttl_s=10)

    await leader.tick()

    assert (lease.revision, leader.epoch, fence.epoch) == (1, 52, 52)


async def test_a_failed_claim_hands_the_lease_back() -> None:
    lease, fence = FakeLease(), FakeFence()
    fence.failing = True
    leader = Leadership(lease.for_instance(), fence, ttl_s=10)

    await leader.tick()

    assert (leader.epoch, lease.holder) == (None, None)
    fence.failing = False
    await leader.tick()
    assert leader.epoch == lease.revision == 2


async def test_a_cancelled_claim_hands_the_lease_back() -> None:
    lease = FakeLease()

    class SlowFence(FakeFence):
        async def claim(self, lease_revision: int) -> int:
            await asyncio.sleep(10)
            return 0

    leader = Leadership(lease.for_instance(), SlowFence(), ttl_s=10)
    task = asyncio.create_task(leader.tick())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lease.holder is None
