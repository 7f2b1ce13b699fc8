"""What every service process does around its own logic: telemetry, migrations, pool, broker, relay,
and pruning processed-event ids older than any redelivery (shared/messaging/retention.py).

A service's main.py builds a ServiceHost from its settings (the app factory), adds its consumers and
background tasks, and hands it to run_service, which stops everything cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from faststream.nats import NatsBroker
from nats.js import JetStreamContext

from shared.clock import Clock, SystemClock
from shared.db.migrations import migrate
from shared.db.pool import Database, create_pool
from shared.messaging.batch_consumer import BatchConsumer
from shared.messaging.broker import connect_and_declare, create_broker
from shared.messaging.consumer import Consumer
from shared.messaging.outbox import OutboxRelay
from shared.messaging.patience import patiently
from shared.messaging.retention import prune_forever
from shared.messaging.specs import AnyConsumerSpec, BatchConsumerSpec, ConsumerSpec
from shared.messaging.subscriber import LowRateConsumer
from shared.settings import PlatformSettings
from shared.telemetry import setup_logging, setup_telemetry

log = logging.getLogger(__name__)


class ServiceHost:
    """Starts a service's platform pieces in order and stops them in reverse order."""

    def __init__(
        self,
        name: str,
        settings: PlatformSettings,
        *,
        schema: str | None = None,
        migrations: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.schema = schema
        self.migrations = migrations
        self.clock: Clock = clock or SystemClock()
        self.broker: NatsBroker = create_broker(settings.nats_url, name)
        self._db: Database | None = None
        self._js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self._consumers: list[Callable[[], Sequence[AnyConsumerSpec]]] = []
        self._running_consumers: list[Consumer | BatchConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._background: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError(f"{self.name} has no database, or has not started")
        return self._db

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError(f"{self.name} has not started")
        return self._js

    def add_consumers(self, build: Callable[[], Sequence[AnyConsumerSpec]]) -> None:
        """Consumers (shared.messaging.specs.consumer) are built at start, once the database exists."""
        self._consumers.append(build)

    def add_background(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A long-running coroutine started after the broker, cancelled at stop."""
        self._background.append(task)

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._on_stop.append(callback)

    async def start(self) -> None:
        if self.schema is not None:
            if self.migrations is not None:
                await migrate(self.settings.database_url, self.schema, self.migrations)
            self._db = Database(await create_pool(self.settings.database_url, self.schema))
        self._js = await connect_and_declare(self.broker, self.settings.stream_replicas)
        if self._db is not None:
            self.relay = OutboxRelay(self._db, self._js, poll_s=self.settings.outbox_poll_s)
            self.relay.start()
        specs = [spec for build in self._consumers for spec in build()] if self._db is not None else []
        # Low-rate durables are FastStream subscribers: registered before the broker starts them.
        for spec in specs:
            if isinstance(spec, ConsumerSpec) and spec.low_rate:
                await LowRateConsumer(self.broker, self._js, self.db, spec).prepare()
        await patiently(self.broker.start, "starting the subscribers")
        for spec in specs:
            if isinstance(spec, BatchConsumerSpec):
                consumer: Consumer | BatchConsumer = BatchConsumer(self._js, self.db, spec)
            elif not spec.low_rate:
                consumer = Consumer(self._js, self.db, spec)
            else:
                continue
            await consumer.start()
            self._running_consumers.append(consumer)
        if self._db is not None:
            self._tasks.append(asyncio.create_task(self._prune_processed_events()))
        for task in self._background:
            self._tasks.append(asyncio.create_task(task()))
        log.info("%s started", self.name)

    async def _prune_processed_events(self) -> None:
        settings = self.settings
        await prune_forever(
            self.db,
            self.js,
            self.clock,
            settings.processed_events_retention_s,
            settings.processed_events_prune_interval_s,
        )

    async def stop(self) -> None:
        for callback in reversed(self._on_stop):
            with contextlib.suppress(Exception):
                await callback()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: on 3.11 asyncio.wait_for can swallow a cancel, and stop must not hang on it.
            _, stuck = await asyncio.wait(self._tasks, timeout=10.0)
            for task in stuck:
                log.warning("%s: task %s did not stop within 10 s", self.name, task.get_name())
        for consumer in self._running_consumers:
            await consumer.stop()
        await self.broker.stop()  # and with it the low-rate subscribers
        if self.relay is not None:
            await self.relay.stop()
        if self._db is not None:
            await self._db.close()
        log.info("%s stopped", self.name)


def run_service(name: str, settings: PlatformSettings, build: Callable[[], ServiceHost]) -> None:
    """Run a service until SIGTERM or SIGINT, then stop it cleanly."""
    setup_logging(settings.log_level)
    setup_telemetry(name, console=settings.telemetry_console)

    async def main() -> None:
        host = build()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await host.start()
        try:
            await stop.wait()
        finally:
            await host.stop()

    asyncio.run(main())
