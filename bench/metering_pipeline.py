"""Usage events end to end: agents' samples published to JetStream (a message each), through ingest
(validate, dedupe, attribute to the allocation holding the GPU, publish the records up to 1,000 to a
message) and metering (raw table, minute / hour / day rollups, invoice charges) into PostgreSQL, exactly
once; and, in the same run, a bare nats-py pull consumer reading the same stream, for the ratio.

1. nats-server and PostgreSQL start embedded (shared/infra/embedded.py) in a temporary directory;
   ingest and metering run as their own processes (python -m services.<name>.main).
2. Tenants, price books and one allocation per node (AllocationBound) are published and recorded.
3. The services are stopped, and --events agent samples (agent.v1.<node>.usage.sampled) of a fleet of
   --gpus GPUs sampled every --sample-s seconds are published to the AGENT stream.
   With --path metering, ingest is left out: the samples are published as records, one to a message
   (ingest.v1.usage.recorded on the INGEST stream, as ingest emits external usage), to measure metering
   alone on its costliest input.
4. The services start again and drain the backlog; events/s is measured from the first batch metering
   committed to the last (polling the day rollups' count), and from the processes' start.
5. Exactly once: the rollups' counts and sums (samples, energy, utilization) equal what was published,
   and the raw table holds each sample once.
6. A bare nats-py pull consumer (fetch --fetch-batch, ack each message) reads the same N messages from
   the same stream on a new durable: the raw rate; ratio = end to end / raw.
7. CPU seconds per event of every process involved: what the work costs whatever else runs on the
   machine, and the rate those costs allow on its cores were nothing else running.

Prints a table, then one JSON line.

    .venv/bin/python bench/metering_pipeline.py --events 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import nats
import psutil
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pipeline_support import (
    GPUS_PER_NODE,
    CpuMeter,
    Fleet,
    Payload,
    Published,
    ServiceProcess,
    fleet_samples,
    postmaster,
)

from shared.events.agent import UsageSampled
from shared.events.gateway import PriceBookSet, TenantCreated
from shared.events.scheduler import AllocationBound
from shared.infra.embedded import EmbeddedNats, EmbeddedPostgres, with_database
from shared.messaging.streams import AGENT, INGEST, ensure_streams

TARGETS = {"events_per_s": 20_000, "ratio": 0.5}
REFERENCES = {"lago_documented_events_per_s_on_postgres": 10_000}
COUNTED_SQL = "SELECT coalesce(sum(count), 0) FROM metering.usage_rollup_day WHERE meter = 'gpu_utilization'"


async def publish_all(js: JetStreamContext, payloads: list[Payload], window: int = 2000) -> float:
    started = time.perf_counter()
    pending = []
    for subject, body, headers in payloads:
        pending.append(await js.publish_async(subject, body, headers=headers))
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    return time.perf_counter() - started


async def set_up(js: JetStreamContext, fleet: Fleet, since: datetime) -> None:
    """Tenants and price books (metering), and who holds each node's GPUs (ingest)."""
    for tenant in (f"bench-{index:04d}" for index in range(fleet.tenants)):
        created = TenantCreated(occurred_at=since - timedelta(days=2), tenant_id=tenant, name=tenant)
        book = PriceBookSet(
            occurred_at=since - timedelta(days=1), tenant_id=tenant, currency="USD", per_kwh=Decimal("0.15"),
            gpu_hour={"H100": Decimal("2.50"), "A100": Decimal("1.20")},
            per_1k_tokens=Decimal("0.002"), per_request=Decimal("0.0001"),
        )  # fmt: skip
        for event in (created, book):
            await js.publish(event.subject(), event.model_dump_json().encode(), headers=event.headers())
    for node in range(fleet.nodes):
        tenant, project = fleet.holder(node)
        gpus = range(node * GPUS_PER_NODE, min((node + 1) * GPUS_PER_NODE, fleet.gpus))
        bound = AllocationBound(
            occurred_at=since, tenant_id=tenant, project_id=project, job_id=f"job-{node}",
            allocation_id=f"alloc-{node}", replica=0, node_id=fleet.node(node * GPUS_PER_NODE),
            gpu_model=fleet.model(node * GPUS_PER_NODE), gpu_uuids=[fleet.gpu_uuid(g) for g in gpus],
            bound_at=since, epoch=1,
        )  # fmt: skip
        await js.publish(bound.subject(), bound.model_dump_json().encode(), headers=bound.headers())


async def wait_for(db: asyncpg.Connection, sql: str, expected: int, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while True:
        try:
            if int(await db.fetchval(sql)) >= expected:
                return
        except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
            pass  # not migrated yet
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{sql!r} did not reach {expected} in {timeout_s}s")
        await asyncio.sleep(0.1)


async def drain(
    db: asyncpg.Connection, expected: int, started: float, timeout_s: float
) -> tuple[float, float]:
    """(events/s from the first committed batch to the last, seconds from the processes' start)."""
    first_at, first_count = None, 0
    deadline = started + timeout_s
    while True:
        try:
            count = int(await db.fetchval(COUNTED_SQL))
        except asyncpg.UndefinedTableError:
            count = 0
        now = time.perf_counter()
        if count and first_at is None:
            first_at, first_count = now, count
        if count >= expected:
            break
        if now > deadline:
            raise TimeoutError(f"metering committed {count} of {expected} events in {timeout_s}s")
        await asyncio.sleep(0.01)
    assert first_at is not None
    steady = (expected - first_count) / (now - first_at) if now > first_at else float("inf")
    return steady, now - started


async def bare_consumer(js: JetStreamContext, stream: str, subject: str, expected: int, batch: int) -> float:
    durable = f"bench-raw-{uuid.uuid4().hex[:6]}"
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=batch * 4)
    sub = await js.pull_subscribe(subject, durable=durable, stream=stream, config=config)
    got = 0
    started = time.perf_counter()
    while got < expected:
        try:
            messages = await sub.fetch(batch, timeout=5)
        except nats.errors.TimeoutError:
            info = await js.consumer_info(stream, durable)
            raise TimeoutError(f"bare consumer read {got} of {expected}: {info}") from None
        await asyncio.gather(*(message.ack() for message in messages))
        got += len(messages)
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    return got / elapsed


async def verify(db: asyncpg.Connection, published: Published, through_ingest: bool) -> dict[str, bool]:
    rollup = {
        row["meter"]: (row["sum"], row["count"])
        for row in await db.fetch(
            "SELECT meter, sum(sum) AS sum, sum(count) AS count FROM metering.usage_rollup_day GROUP BY meter"
        )
    }
    minutes = await db.fetchval(
        "SELECT sum(count) FROM metering.usage_rollup_minute WHERE meter = 'gpu_utilization'"
    )
    checks = {
        "samples_counted_once": rollup["gpu_utilization"][1] == published.events,
        "minute_rollups_agree": minutes == published.events,
        "utilization_sum_exact": rollup["gpu_utilization"][0] == published.utilization_sum,
        "energy_sum_exact": rollup["energy_j"] == (published.energy_j, published.events),
        "raw_rows_once": await db.fetchval("SELECT count(*) FROM metering.usage_events") == published.events,
        "nothing_dead_lettered": await db.fetchval("SELECT count(*) FROM metering.dead_letters") == 0,
    }
    if through_ingest:
        checks["ingest_keys_once"] = (
            await db.fetchval("SELECT count(*) FROM ingest.sample_keys") == published.events
        )
        checks["attributed_to_tenants"] = (
            await db.fetchval("SELECT count(*) FROM metering.usage_events WHERE tenant_id = '_fleet'") == 0
        )
    return checks


@dataclass
class Figures:
    events: int
    publish_per_s: float
    events_per_s: float
    events_per_s_from_process_start: float
    raw_consumer_events_per_s: float
    cpu_split_us: dict[str, float]  # per event, while the services drained
    raw_cpu_us_per_event: float  # the bare consumer + nats-server, while it read
    checks: dict[str, bool]

    @property
    def ratio(self) -> float:
        return self.events_per_s / self.raw_consumer_events_per_s

    @property
    def cpu_us_per_event(self) -> float:
        return sum(self.cpu_split_us.values())

    @property
    def cpu_ceiling_per_s(self) -> float:
        """The rate the measured CPU cost allows on this machine's cores with nothing else running."""
        return (os.cpu_count() or 1) * 1e6 / self.cpu_us_per_event


async def run(args: argparse.Namespace, nats_server: EmbeddedNats, database_url: str, pg_dir: Path, logs: Path) -> Figures:  # fmt: skip
    through_ingest = args.path == "ingest"
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream(timeout=30)
    await ensure_streams(js)
    db = await asyncpg.connect(database_url)
    env = dict(os.environ) | {
        "AIFACTORY_NATS_URL": nats_server.url,
        "AIFACTORY_DATABASE_URL": database_url,
        "AIFACTORY_HTTP_PORT": "0",
        "AIFACTORY_LOG_LEVEL": "WARNING",
        "AIFACTORY_INGEST_TOKEN": secrets.token_urlsafe(24),
        "AIFACTORY_METERING_API_KEY": secrets.token_urlsafe(32),
        "AIFACTORY_USAGE_BATCH_SIZE": str(args.batch_size),
        "AIFACTORY_SAMPLE_BATCH_SIZE": str(args.batch_size),
        "AIFACTORY_USAGE_CONSUMERS": str(args.consumers),
        "PYTHONUNBUFFERED": "1",
    }
    services = [ServiceProcess("metering", env, logs)]
    if through_ingest:
        services.append(ServiceProcess("ingest", env, logs))
    fleet = Fleet(args.gpus, args.tenants)
    now = datetime.now(UTC)
    ticks = -(-args.events // args.gpus)
    first_sample = now - timedelta(seconds=60 + ticks * args.sample_s)
    try:
        # 1. tenants, price books and allocations recorded; then the services stop so the usage queues up
        for service in services:
            service.start()
        await set_up(js, fleet, first_sample - timedelta(minutes=1))
        await wait_for(db, "SELECT count(*) FROM metering.price_books", args.tenants, 180)
        if through_ingest:
            await wait_for(db, "SELECT count(*) FROM ingest.allocations", fleet.nodes, 180)
        for service in services:
            service.stop()
        # 2. the backlog
        payloads, published = fleet_samples(
            fleet,
            args.events,
            args.sample_s,
            now - timedelta(seconds=60),
            args.seed,
            recorded=not through_ingest,
        )
        publish_s = await publish_all(js, payloads)
        stream, subject = (
            (AGENT.name, UsageSampled.subject_filter()) if through_ingest else (INGEST.name, payloads[0][0])
        )
        del payloads
        # 3. the services drain it
        started = min(service.start() for service in services)
        meters = {service.name: CpuMeter(service.psutil()) for service in services}
        assert nats_server.process is not None
        nats_process = psutil.Process(nats_server.process.pid)
        meters |= {"postgres": CpuMeter(postmaster(pg_dir)), "nats": CpuMeter(nats_process)}
        steady, total_s = await drain(db, args.events, started, args.timeout)
        cpu_split = {name: meter.lap() * 1e6 / args.events for name, meter in meters.items()}
        checks = await verify(db, published, through_ingest)
        # 4. the same messages through a bare pull consumer
        read_cpu = CpuMeter(psutil.Process(), nats_process)
        raw = await bare_consumer(js, stream, subject, args.events, args.fetch_batch)
        raw_cpu_s = read_cpu.lap()
    finally:
        for service in services:
            service.stop()
        await db.close()
        await nc.close()
    return Figures(
        events=args.events,
        publish_per_s=args.events / publish_s,
        events_per_s=steady,
        events_per_s_from_process_start=args.events / total_s,
        raw_consumer_events_per_s=raw,
        cpu_split_us=cpu_split,
        raw_cpu_us_per_event=raw_cpu_s * 1e6 / args.events,
        checks=checks,
    )


def report(args: argparse.Namespace, figures: Figures) -> None:
    lago = REFERENCES["lago_documented_events_per_s_on_postgres"]
    path = "agents -> JetStream -> ingest -> JetStream -> metering" if args.path == "ingest" else "JetStream -> metering (ingest bypassed)"  # fmt: skip
    rows = [
        ("path", path, ""),
        ("usage events", f"{figures.events:,}", ""),
        ("publish to JetStream (events/s)", f"{figures.publish_per_s:,.0f}", ""),
        ("end to end, steady (events/s)", f"{figures.events_per_s:,.0f}", f">= {TARGETS['events_per_s']:,}; Lago {lago:,}"),
        ("end to end, from process start (events/s)", f"{figures.events_per_s_from_process_start:,.0f}", ""),
        ("bare nats-py pull consumer (events/s)", f"{figures.raw_consumer_events_per_s:,.0f}", ""),
        ("ratio end to end / bare consumer", f"{figures.ratio:.2f}", f">= {TARGETS['ratio']}"),
        ("CPU per event, all processes (us)", f"{figures.cpu_us_per_event:,.1f}", ""),
        *[(f"  of which {name} (us)", f"{us:,.1f}", "") for name, us in figures.cpu_split_us.items()],
        ("CPU per event: bare consumer + NATS (us)", f"{figures.raw_cpu_us_per_event:,.1f}", ""),
        ("CPU-bound ceiling on idle cores (events/s)", f"{figures.cpu_ceiling_per_s:,.0f}",
         f"{os.cpu_count()} cores; load average now {os.getloadavg()[0]:.1f}"),
    ] + [(f"exactly once: {name}", "yes" if passed else "NO", "") for name, passed in figures.checks.items()]  # fmt: skip
    print(f"{'figure':<46}{'value':>20}  target / reference")
    for name, value, note in rows:
        print(f"{name:<46}{value:>20}  {note}")
    print(json.dumps({
        "path": args.path,
        "events": figures.events,
        "events_per_s": round(figures.events_per_s, 1),
        "events_per_s_from_process_start": round(figures.events_per_s_from_process_start, 1),
        "raw_consumer_events_per_s": round(figures.raw_consumer_events_per_s, 1),
        "ratio": round(figures.ratio, 3),
        "publish_per_s": round(figures.publish_per_s, 1),
        "cpu_us_per_event": round(figures.cpu_us_per_event, 1),
        "cpu_us_per_event_split": {name: round(us, 1) for name, us in figures.cpu_split_us.items()},
        "raw_cpu_us_per_event": round(figures.raw_cpu_us_per_event, 1),
        "cpu_ceiling_events_per_s": round(figures.cpu_ceiling_per_s, 1),
        "exactly_once": all(figures.checks.values()),
        "settings": {"batch_size": args.batch_size, "consumers": args.consumers, "gpus": args.gpus, "tenants": args.tenants},
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "targets": TARGETS,
        "references": REFERENCES,
    }))  # fmt: skip


async def create_database(server_url: str) -> str:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute("DROP DATABASE IF EXISTS pipeline_bench WITH (FORCE)")
        await admin.execute("CREATE DATABASE pipeline_bench")
    finally:
        await admin.close()
    return with_database(server_url, "pipeline_bench")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--path", choices=("ingest", "metering"), default="ingest")
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--gpus", type=int, default=2000, help="GPUs in the simulated fleet")
    parser.add_argument("--sample-s", type=float, default=10.0, help="the agents' sampling interval")
    parser.add_argument("--batch-size", type=int, default=2000, help="the services' batch size")
    parser.add_argument("--consumers", type=int, default=2, help="metering's concurrent usage batches")
    parser.add_argument("--fetch-batch", type=int, default=2000, help="the bare consumer's fetch size")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--logs", type=Path, help="keep the services' logs in this directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aifactory-pipeline-bench-") as tmp:
        data = Path(tmp)
        nats_server = EmbeddedNats(data / "nats").start()
        postgres = EmbeddedPostgres(data / "pg").start()
        try:
            database_url = asyncio.run(create_database(postgres.url))
            figures = asyncio.run(run(args, nats_server, database_url, data / "pg", args.logs or data))
        finally:
            nats_server.stop()
            postgres.stop()
    report(args, figures)
    if not all(figures.checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
