"""Exactly once under SIGKILL: metering runs as its own OS process and is killed again and again while
allocation releases and usage records (some many to a message, some published twice) flow; restarted each time, it must end
with invoices equal, to the cent, to the totals computed here from the events sent, and with every
event counted once in the rollups.

The totals are computed independently of metering's code, from the billing rules: GPU time is
ceil(seconds) x GPUs / 3600 x the price per GPU-hour; energy J / 3,600,000 x the price per kWh; tokens /
1000 x the price per 1k tokens; requests x the price per request; one line per (project, meter, GPU
model) per month, rounded once, half up, to the currency's minor units.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.metering.consumers import ALLOCATIONS_DURABLE, USAGE_DURABLE
from services.metering.invoicing.adapters.rebuild_source import raw_billing_snapshot
from services.metering.invoicing.app.rebuild import rebuild_invoices
from shared.db.pool import Database, create_pool
from shared.events.base import Event
from shared.events.gateway import PriceBookSet, TenantCreated
from shared.events.ingest import UsageBatchRecorded, UsageRecorded
from shared.events.metering import InvoiceUpdated
from shared.events.scheduler import AllocationReleased
from shared.messaging.streams import INGEST, METERING, SCHEDULER
from tests.integration.metering.gateway_auth import METERING_API_KEY
from tests.integration.metering.usage_harness import fresh_streams
from tests.unit.metering.usage.builders import inference, released, sample

KILLS = 5
STREAM_CHUNK = 20
STREAM_PAUSE_S = 0.1
TENANTS = {"kill-usd": ("USD", 2), "kill-eur": ("EUR", 2), "kill-jpy": ("JPY", 0)}
PRICES = {"H100": Decimal("2.75"), "A100": Decimal("1.40"), "kwh": Decimal("0.31"), "1k": Decimal("0.015"), "req": Decimal("0.0007")}  # fmt: skip
ACK_WAIT_S = 3.0
MAX_DELIVERIES = 20
START_TIMEOUT_S = 120.0  # a cold interpreter imports FastAPI, SQLAlchemy and Alembic first


@dataclass
class Expected:
    """Base quantities per (tenant, period, project, meter, GPU model), from the events sent."""

    quantities: dict[tuple[str, str, str, str, str], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    events: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # readings per meter

    def add(self, event: Event) -> None:
        self.events += 1
        if hasattr(event, "released_at"):
            self.counts["gpu_seconds"] += 1
            seconds = math.ceil((event.released_at - event.bound_at).total_seconds()) * event.gpu_count
            self._add(
                event.tenant_id, event.released_at, event.project_id, "gpu_hours", event.gpu_model, seconds
            )
            return
        if getattr(event, "gpu_utilization_pct", None) is not None:
            self.counts["gpu_utilization"] += 1
        end = event.window_end  # type: ignore[attr-defined]
        self._add(event.tenant_id, end, event.project_id, "energy_kwh", "", event.energy_j)  # type: ignore[attr-defined]
        tokens = event.input_tokens + event.output_tokens  # type: ignore[attr-defined]
        self._add(event.tenant_id, end, event.project_id, "tokens_1k", "", tokens)
        self._add(event.tenant_id, end, event.project_id, "requests", "", event.requests)  # type: ignore[attr-defined]

    def _add(
        self, tenant: str | None, at: datetime, project: str, meter: str, model: str, quantity: object
    ) -> None:
        assert tenant is not None
        self.quantities[(tenant, f"{at.year:04d}-{at.month:02d}", project, meter, model)] += Decimal(
            str(quantity)
        )

    def totals(self) -> dict[tuple[str, str], Decimal]:
        price_and_divisor = {
            "gpu_hours": (None, Decimal(3600)),
            "energy_kwh": (PRICES["kwh"], Decimal(3_600_000)),
            "tokens_1k": (PRICES["1k"], Decimal(1000)),
            "requests": (PRICES["req"], Decimal(1)),
        }
        totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for (tenant, period, _, meter, model), quantity in self.quantities.items():
            price, divisor = price_and_divisor[meter]
            amount = quantity * (price if price is not None else PRICES[model]) / divisor
            minor = Decimal(1).scaleb(-TENANTS[tenant][1])
            totals[(tenant, period)] += amount.quantize(minor, ROUND_HALF_UP)
        return dict(totals)


def next_events(rng: random.Random, now: datetime, count: int) -> list[Event]:
    events: list[Event] = []
    for _ in range(count):
        tenant = rng.choice(list(TENANTS))
        project = rng.choice(("p1", "p2"))
        at = now - timedelta(seconds=rng.randint(60, 3000), microseconds=rng.randint(0, 999_999))
        kind = rng.random()
        if kind < 0.1:
            seconds = rng.randint(1, 7200) + rng.random()
            model = rng.choice(("H100", "A100"))
            events.append(
                released(
                    seconds,
                    end=at,
                    tenant_id=tenant,
                    project_id=project,
                    gpu_model=model,
                    gpu_count=rng.randint(1, 4),
                )
            )
        elif kind < 0.7:
            energy = str(Decimal(rng.randint(0, 900_000)) / 10)
            events.append(
                sample(
                    at, tenant_id=tenant, project_id=project, energy_j=energy, utilization=rng.randint(0, 100)
                )
            )
        else:
            events.append(inference(at, tenant_id=tenant, project_id=project, requests=rng.randint(0, 9),
                                    input_tokens=rng.randint(0, 5000), output_tokens=rng.randint(0, 900)))  # fmt: skip
    return events


class MeteringProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._env, self._log_path = env, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.metering.main"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
async def streams(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc, js = await fresh_streams(nats_url)
    # What a killed process had fetched comes back once the ack wait runs out: 60 s by default, a few
    # seconds here (metering binds to durables that exist as they are). Redeliveries to a live process
    # are harmless too, so the maximum deliveries are raised to match.
    for stream, durable, subject in (
        (INGEST.name, USAGE_DURABLE, "ingest.v1.usage.>"),
        (SCHEDULER.name, ALLOCATIONS_DURABLE, AllocationReleased.SUBJECT),
    ):
        config = ConsumerConfig(
            durable_name=durable,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_deliver=MAX_DELIVERIES + 1,
            max_ack_pending=10_000,
        )
        await js.add_consumer(stream, config=config)
    yield js
    await nc.close()


async def publish(js: JetStreamContext, events: list[Event], rng: random.Random) -> None:
    """Each event alone, or (half the usage records) many to a UsageBatchRecorded, as ingest sends agent
    samples; a tenth of them again: the same event under a new message id (a producer's retry), a batched
    record in another batch (ingest re-forms its batches after a crash)."""
    acks = []
    batched = [e for e in events if isinstance(e, UsageRecorded) and rng.random() < 0.5]
    alone = [e for e in events if e not in batched]
    for start in range(0, len(batched), 7):
        alone.append(
            UsageBatchRecorded(occurred_at=batched[0].occurred_at, records=batched[start : start + 7])
        )
    again = [r for r in batched if rng.random() < 0.1]
    if again:
        alone.append(UsageBatchRecorded(occurred_at=again[0].occurred_at, records=again))
    for event in alone:
        body = event.model_dump_json().encode()
        acks.append(await js.publish_async(event.subject(), body, headers=event.headers()))
        if rng.random() < 0.1:  # a producer's retry: the same event under a new message id
            headers = event.headers() | {"Nats-Msg-Id": str(uuid.uuid4())}
            acks.append(await js.publish_async(event.subject(), body, headers=headers))
    await asyncio.gather(*acks)


async def stream_events(
    js: JetStreamContext, rng: random.Random, now: datetime, expected: Expected, stop: asyncio.Event
) -> None:
    """Publish a steady stream of events, a chunk every STREAM_PAUSE_S, until told to stop."""
    while not stop.is_set():
        events = next_events(rng, now, STREAM_CHUNK)
        for event in events:
            expected.add(event)
        await publish(js, events, rng)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STREAM_PAUSE_S)


async def processed(db: asyncpg.Connection) -> int:
    """Events metering has taken in: records and releases kept raw (each once, by its event id)."""
    try:
        return int(
            await db.fetchval(
                "SELECT (SELECT count(*) FROM metering.usage_events)"
                " + (SELECT count(*) FROM metering.allocation_events)"
            )
        )
    except asyncpg.UndefinedTableError:
        return 0  # not migrated yet


async def until(condition: object, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def latest_snapshots(js: JetStreamContext) -> dict[tuple[str, str], Decimal]:
    """The newest InvoiceUpdated of each (tenant, period) on the METERING stream."""
    sub = await js.pull_subscribe(
        InvoiceUpdated.SUBJECT, stream=METERING.name, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    latest: dict[tuple[str, str], Decimal] = {}
    try:
        while True:
            try:
                messages = await sub.fetch(500, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                return latest
            for message in messages:
                snapshot = InvoiceUpdated.model_validate_json(message.data)
                latest[(snapshot.tenant_id, snapshot.period)] = snapshot.total
                await message.ack()
    finally:
        await sub.unsubscribe()


async def test_invoices_are_exact_after_repeated_sigkills(
    streams: JetStreamContext, nats_url: str, fresh_database: str, tmp_path: Path
) -> None:
    rng = random.Random(4)
    now = datetime.now(UTC)
    env = dict(os.environ) | {
        "AIFACTORY_NATS_URL": nats_url,
        "AIFACTORY_DATABASE_URL": fresh_database,
        "AIFACTORY_HTTP_PORT": "0",
        "AIFACTORY_INVOICE_PUBLISH_INTERVAL_S": "0.3",
        "AIFACTORY_OUTBOX_POLL_S": "0.1",
        "AIFACTORY_USAGE_BATCH_SIZE": "100",  # many commits, so the kills land between and inside them
        "AIFACTORY_LOG_LEVEL": "WARNING",
        "AIFACTORY_MAX_DELIVERIES": str(MAX_DELIVERIES),
        "AIFACTORY_METERING_API_KEY": METERING_API_KEY,  # required to start
    }
    metering = MeteringProcess(env, tmp_path / "metering.log")
    db = await asyncpg.connect(fresh_database)
    expected = Expected()
    outstanding_at_kill: list[int] = []
    try:
        # 1. tenants and price books, recorded before any usage
        metering.start()
        for tenant, (currency, _) in TENANTS.items():
            await publish(streams, [
                TenantCreated(occurred_at=now - timedelta(days=3), tenant_id=tenant, name=tenant, currency=currency),
                PriceBookSet(occurred_at=now - timedelta(days=2), tenant_id=tenant, currency=currency,
                             gpu_hour={"H100": PRICES["H100"], "A100": PRICES["A100"]}, per_kwh=PRICES["kwh"],
                             per_1k_tokens=PRICES["1k"], per_request=PRICES["req"]),
            ], random.Random(0))  # fmt: skip

        async def books_recorded() -> bool:
            with contextlib.suppress(asyncpg.UndefinedTableError):
                return int(await db.fetchval("SELECT count(*) FROM metering.price_books")) == len(TENANTS)
            return False

        await until(books_recorded, START_TIMEOUT_S, "the price books")
        # 2. events flow in steadily; metering is killed whenever it has made progress, and restarted
        stop = asyncio.Event()
        streaming = asyncio.create_task(stream_events(streams, rng, now, expected, stop))
        for _ in range(KILLS):
            before = await processed(db)

            async def progressed(before: int = before) -> bool:
                return await processed(db) > before

            await until(progressed, START_TIMEOUT_S, "metering to take in events")
            await asyncio.sleep(rng.uniform(0.05, 0.5))
            metering.kill()
            outstanding_at_kill.append(expected.events - await processed(db))
            metering.start()
        # 3. the stream ends; the last process is left alone to finish
        stop.set()
        await streaming

        async def all_processed() -> bool:
            return await processed(db) == expected.events

        await until(all_processed, START_TIMEOUT_S, "every event to be processed")
        totals = expected.totals()

        async def invoices_match() -> bool:
            return await latest_snapshots(streams) == totals

        with contextlib.suppress(AssertionError):
            await until(invoices_match, 30, "the invoice snapshots")
        assert await latest_snapshots(streams) == totals
        # ... and every event counted once in the rollups and kept once raw.
        counted = await db.fetch(
            "SELECT meter, sum(count) FROM metering.usage_rollup_day "
            "WHERE meter IN ('gpu_seconds', 'gpu_utilization') GROUP BY meter"
        )
        assert dict(counted) == expected.counts
        raw = "SELECT (SELECT count(*) FROM metering.usage_events) + (SELECT count(*) FROM metering.allocation_events)"
        assert await db.fetchval(raw) == expected.events
        assert await db.fetchval("SELECT count(*) FROM metering.dead_letters") == 0
        assert any(outstanding_at_kill), f"no kill landed with events in flight: {outstanding_at_kill}"
        # 4. the rebuild command's check: each invoice recomputed from the raw events agrees.
        metering_db = Database(await create_pool(fresh_database, "metering", max_size=1))
        try:
            for tenant in TENANTS:
                async with raw_billing_snapshot(metering_db) as source:
                    rebuilt = await rebuild_invoices(source, tenant)
                assert [r.differences for r in rebuilt] == [[] for _ in rebuilt]
                assert {(tenant, r.rebuilt.period): r.rebuilt.total for r in rebuilt} == {
                    key: total for key, total in totals.items() if key[0] == tenant
                }
        finally:
            await metering_db.close()
    finally:
        metering.stop()
        await db.close()
