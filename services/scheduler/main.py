"""The scheduler service: `python -m services.scheduler.main`.

Every instance records facts from its consumers; the instance holding the leader lease also runs
the scheduling cycles (settle, then decide with the policy engine and act) under the lease's epoch.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from services.scheduler.adapters.consumers import scheduler_consumers
from services.scheduler.adapters.lease import NatsKvLease
from services.scheduler.adapters.pg_cycle import PgCycleStore
from services.scheduler.adapters.pg_fence import PgEpochFence
from services.scheduler.adapters.wakeup import listen_for_wakes
from services.scheduler.app.cycle import SchedulingCycle
from services.scheduler.app.leadership import Leadership
from services.scheduler.app.runner import CycleRunner
from services.scheduler.settings import SchedulerSettings
from shared.clock import Clock
from shared.db.pool import Database, create_pool
from shared.service import ServiceHost, run_service

SERVICE = "scheduler"
MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


class SchedulerHost(ServiceHost):
    """The service host plus the scheduler's leader duties (lease, cycle loop, wake-ups)."""

    settings: SchedulerSettings

    def __init__(self, settings: SchedulerSettings, *, clock: Clock | None = None) -> None:
        super().__init__(SERVICE, settings, schema=SERVICE, migrations=MIGRATIONS, clock=clock)
        self.leadership: Leadership | None = None
        self.runner: CycleRunner | None = None
        self.add_consumers(
            lambda: scheduler_consumers(settings.max_deliveries, settings.priority_class_rules())
        )
        self.add_background(self._lead_when_elected)

    async def start(self) -> None:
        await super().start()
        # What start-up allocated lives as long as the service: move it out of the collector's sight,
        # as full collections over it dominated the engine's cycle time at p99.
        gc.freeze()

    async def _lead_when_elected(self) -> None:
        settings = self.settings
        # The cycle has connections of its own, so a backlog of consumer transactions never delays decisions.
        cycle_db = Database(await create_pool(settings.database_url, SERVICE, min_size=1, max_size=2))
        if self.relay is not None:
            cycle_db.on_commit_with_events(self.relay.wake)
        cycle = SchedulingCycle(
            PgCycleStore(cycle_db),
            settings.pool_policies(),
            node_lost_after_s=settings.node_lost_after_s,
            max_pending=settings.cycle_max_pending,
            start_timeout_s=settings.start_timeout_s,
        )
        lease = NatsKvLease(
            self.js,
            ttl_s=settings.lease_ttl_s,
            holder=settings.instance_id,
            replicas=settings.stream_replicas,
        )
        self.leadership = leadership = Leadership(lease, PgEpochFence(cycle_db), settings.lease_ttl_s)
        self.runner = runner = CycleRunner(
            cycle,
            leadership,
            self.clock,
            settings.cycle_interval_s,
            min_spacing_s=settings.cycle_min_spacing_s,
        )
        leadership.on_elected(runner.wake)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(leadership.run())
                tasks.create_task(runner.run())
                tasks.create_task(listen_for_wakes(settings.database_url, runner.wake))
        finally:
            # Stopped: no cycle is in flight any more, so hand the lease over at once.
            await leadership.resign()
            await cycle_db.close()


def create_service(settings: SchedulerSettings | None = None, *, clock: Clock | None = None) -> SchedulerHost:
    return SchedulerHost(settings or SchedulerSettings(), clock=clock)


def main() -> None:
    settings = SchedulerSettings()
    run_service(SERVICE, settings, lambda: create_service(settings))


if __name__ == "__main__":
    main()
