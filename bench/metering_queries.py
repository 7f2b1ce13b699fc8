"""Usage queries and invoice building over a month of 1,000 tenants' usage: 10 million usage events
stored raw, with the rollups and billing rows metering keeps for them, on the embedded PostgreSQL with
metering's own schema, SQL and code.

1. Load, timed: --tenants tenants x 30 days (October 2026) x 2 projects x 2 GPU models, each series
   active --minutes minutes a day with 8 or 9 GPU samples a minute (utilization, busy GPU-seconds,
   energy). The raw samples (usage_events) are generated in PostgreSQL (INSERT ... SELECT over
   generate_series: nothing crosses the wire, which beats COPY from a client; the primary key is built
   once, after the rows), and so are their minute rollups, cell for cell what the pipeline would have
   written for them (hours and days are summed from the minutes). Billing matches: per tenant 60
   released allocations (allocation_events, rated as rated_items / rated_charges), the month's energy
   charges per project (rated_usage, from the same samples), a price book, and a dirty draft invoice.
   The events stored are counted back and printed.
2. Query: one tenant's month grouped by project and day (and GPU model, every meter), through
   metering's PostgresUsageReader (the SQL the HTTP API runs), for --queries random tenants: p50, p99.
   Then the same through the HTTP API in process (FastAPI over ASGI, no network): p50, p99.
3. Invoices: the draft invoices of every tenant built, saved and announced (InvoiceUpdated outbox rows)
   by metering's InvoicePublisher, timed.
4. Rebuild: --rebuilds tenants' invoices recomputed from their ~10,000 raw events each (the rebuild
   command's code), timed, each checked equal to the kept invoice.

Prints a table, then one JSON line.

    .venv/bin/python bench/metering_queries.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil

from services.metering.invoicing.adapters.publisher import InvoicePublisher
from services.metering.invoicing.adapters.rebuild_source import raw_billing_snapshot
from services.metering.invoicing.app.rebuild import rebuild_invoice
from services.metering.main import MIGRATIONS, SCHEMA
from services.metering.platform.http import create_http_app
from services.metering.usage.adapters.http import usage_router
from services.metering.usage.adapters.reader import PostgresUsageReader
from services.metering.usage.domain.queries import usage_query
from shared.clock import ManualClock
from shared.contracts.service_auth import ServiceScope, authorization
from shared.db.migrations import migrate
from shared.db.pool import Database, create_pool
from shared.infra.embedded import EmbeddedPostgres, with_database

TARGETS = {"query_p99_ms": 50, "invoices_1000_tenants_s": 10}
REFERENCES = {"issue_4_targets": "p99 < 50 ms with 10M usage events stored; 1,000 invoices < 10 s"}
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30

# One row per series-minute: tenant, day, project, GPU model, minute; its 8 or 9 samples end at second
# 0, 1, ... of the minute, each 60 s long at 55.5% utilization (33.3 busy GPU-seconds) and 24000.5 J.
SERIES_SQL = """
SELECT 'tenant-' || lpad(t::text, 4, '0') AS tenant, 'p' || p AS project, model,
    $1::timestamptz + d * interval '1 day' + (8 + t % 12) * interval '1 hour' + m * interval '1 minute' AS ts,
    8 + (m % 3 = 0)::int AS samples
FROM generate_series(0, $2 - 1) t, generate_series(0, $3 - 1) d, generate_series(0, 1) p,
    (VALUES ('A100'), ('H100')) models(model), generate_series(0, $4 - 1) m
"""
RAW_SQL = f"""
INSERT INTO usage_events (tenant_id, source, source_event_id, event_id, project_id, window_start, window_end,
    node_id, gpu_uuid, gpu_model, gpu_utilization_pct, memory_used_mib, energy_j, requests, input_tokens,
    output_tokens, occurred_at, period)
SELECT tenant, 'agent', e::text, e, project, at - interval '60 seconds', at, 'node-1',
    'GPU-' || model || '-' || k, model, 55.5, 40000, 24000.5, 0, 0, 0, at, '2026-10'
FROM ({SERIES_SQL}) AS series, generate_series(0, samples - 1) k,
    LATERAL (SELECT ts + k * interval '1 second' AS at,
        md5(tenant || project || model || ts::text || k)::uuid AS e) AS sample
"""
MINUTES_SQL = f"""
INSERT INTO usage_rollup_minute (tenant_id, window_start, project_id, meter, gpu_model, sum, count, max,
    latest, latest_at)
SELECT tenant, ts, project, meter, model, per_sample * samples, samples, per_sample, per_sample,
    ts + (samples - 1) * interval '1 second'
FROM ({SERIES_SQL}) AS series,
    (VALUES ('energy_j', 24000.5), ('gpu_util_seconds', 33.3), ('gpu_utilization', 55.5)) meters(meter, per_sample)
ORDER BY tenant, ts, project, meter, model
"""
COARSER_SQL = """
INSERT INTO usage_rollup_{grain} (tenant_id, window_start, project_id, meter, gpu_model, sum, count, max,
    latest, latest_at)
SELECT tenant_id, date_trunc('{grain}', window_start, 'UTC'), project_id, meter, gpu_model, sum(sum),
    sum(count), max(max), (max(ARRAY[extract(epoch FROM latest_at)::numeric, latest]))[2], max(latest_at)
FROM usage_rollup_minute GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
"""
BILLING_SQL = [
    """INSERT INTO tenants (tenant_id, name, currency)
       SELECT 'tenant-' || lpad(t::text, 4, '0'), 'tenant ' || t, 'USD' FROM generate_series(0, $1 - 1) t""",
    """INSERT INTO price_books (tenant_id, source_event_id, effective_from, currency, gpu_hour, per_1k_tokens,
           per_request, per_kwh)
       SELECT tenant_id, gen_random_uuid(), $1::timestamptz - interval '30 days', 'USD',
           '{"H100": "2.50", "A100": "1.20"}', 0.002, 0.0001, 0.20 FROM tenants""",
    """INSERT INTO allocation_events (event_id, tenant_id, project_id, job_id, allocation_id, node_id, gpu_model,
           gpu_count, bound_at, released_at, reason, epoch, occurred_at, period)
       SELECT gen_random_uuid(), tenant_id, 'p' || a % 2, 'job-' || a, tenant_id || '-' || a, 'node-1',
           CASE WHEN a % 2 = 0 THEN 'H100' ELSE 'A100' END, 1 + a % 3, start, start + (1 + a % 7) * interval '1 hour',
           'succeeded', 1, start, '2026-10'
       FROM tenants, generate_series(0, 59) a, LATERAL (SELECT $1::timestamptz + a * interval '11 hours' AS start) s""",
    """INSERT INTO rated_items (source_event_id, source_key, kind, tenant_id, project_id, usage_period, period,
           occurred_at, priced_at)
       SELECT event_id, 'allocation:' || allocation_id, 'allocation', tenant_id, project_id, period, period,
           released_at, bound_at FROM allocation_events""",
    """INSERT INTO rated_charges (rated_item_id, meter, gpu_model, base_quantity, unit_price, priced_at)
       SELECT r.id, 'gpu_hours', a.gpu_model, extract(epoch FROM a.released_at - a.bound_at) * a.gpu_count,
           CASE WHEN a.gpu_model = 'H100' THEN 2.50 ELSE 1.20 END, a.bound_at
       FROM rated_items r JOIN allocation_events a ON a.event_id = r.source_event_id""",
    """INSERT INTO rated_usage (tenant_id, period, usage_period, version, project_id, meter, unit_price,
           base_quantity, priced_at)
       SELECT d.tenant_id, '2026-10', '2026-10', min(b.effective_from), project_id, 'energy_kwh', 0.20, sum(sum),
           max(latest_at) - interval '60 seconds'
       FROM usage_rollup_day d JOIN price_books b USING (tenant_id)
       WHERE meter = 'energy_j' GROUP BY d.tenant_id, project_id""",
    """INSERT INTO dirty_invoices (tenant_id, period) SELECT tenant_id, '2026-10' FROM tenants""",
]


async def load(db: Database, tenants: int, minutes: int) -> dict[str, float]:
    started = time.perf_counter()
    async with db.pool.acquire() as conn:
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'")
        # 1. raw events, their primary key built once afterwards
        await conn.execute("ALTER TABLE usage_events DROP CONSTRAINT usage_events_pkey")
        await conn.execute("DROP INDEX usage_events_event_id")
        await conn.execute(RAW_SQL, MONTH_START, tenants, DAYS, minutes)
        await conn.execute("ALTER TABLE usage_events ADD PRIMARY KEY (tenant_id, source, source_event_id)")
        await conn.execute("CREATE UNIQUE INDEX usage_events_event_id ON usage_events (event_id)")
        raw_s = time.perf_counter() - started
        # 2. their rollups, 3. the billing rows
        await conn.execute(MINUTES_SQL, MONTH_START, tenants, DAYS, minutes)
        for grain in ("hour", "day"):
            await conn.execute(COARSER_SQL.format(grain=grain))
        await conn.execute(BILLING_SQL[0], tenants)
        for statement in BILLING_SQL[1:]:
            await conn.execute(statement, *([MONTH_START] if "$1" in statement else []))
        await conn.execute("VACUUM ANALYZE")
        counts = {
            f"{grain}_rows": float(await conn.fetchval(f"SELECT count(*) FROM usage_rollup_{grain}"))
            for grain in ("minute", "hour", "day")
        }
        counts["events"] = float(await conn.fetchval("SELECT count(*) FROM usage_events"))
        counts["events_in_rollups"] = float(
            await conn.fetchval("SELECT sum(count) FROM usage_rollup_day WHERE meter = 'gpu_utilization'")
        )
    counts["raw_load_s"] = raw_s
    counts["load_s"] = time.perf_counter() - started
    return counts


def percentile(samples: list[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100)[pct - 1]


async def time_queries(db: Database, tenants: int, count: int, seed: int) -> tuple[list[float], float]:
    """Wall milliseconds per query, and the CPU milliseconds per query of this process and of its
    PostgreSQL backend together (what a query costs, whatever else the machine is busy with)."""
    reader = PostgresUsageReader(db)
    backend = psutil.Process(await db.pool.fetchval("SELECT pg_backend_pid()"))
    rng = random.Random(seed)
    end = MONTH_START.date() + timedelta(days=31)
    timings = []
    cpu_before = time.process_time() + sum(backend.cpu_times()[:2])
    for _ in range(count):
        query = usage_query(f"tenant-{rng.randrange(tenants):04d}", MONTH_START.date(), end)
        started = time.perf_counter()
        rows = await reader.usage(query)
        timings.append((time.perf_counter() - started) * 1000)
        assert rows, "a tenant's month is never empty here"
    cpu_ms = (time.process_time() + sum(backend.cpu_times()[:2]) - cpu_before) * 1000 / count
    return timings, cpu_ms


async def time_http(db: Database, tenants: int, count: int, seed: int) -> list[float]:
    service_key = secrets.token_urlsafe(32)
    app = create_http_app(usage_router(PostgresUsageReader(db)), service_key=service_key)
    rng = random.Random(seed)
    end: date = MONTH_START.date() + timedelta(days=31)
    timings = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metering") as http:
        for _ in range(count):
            # Signed as the gateway signs each read (the tenant travels in the assertion, not the query).
            scope = ServiceScope.tenant(f"tenant-{rng.randrange(tenants):04d}")
            params = {"start": "2026-10-01", "end": end.isoformat()}
            started = time.perf_counter()
            signed = {"Authorization": authorization(service_key, scope, "GET", "/v1/usage", time.time())}
            response = await http.get("/v1/usage", params=params, headers=signed)
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return timings


async def time_invoices(db: Database, tenants: int) -> tuple[float, int]:
    clock = ManualClock(datetime(2026, 11, 1, 12, tzinfo=UTC))
    started = time.perf_counter()
    published = await InvoicePublisher(db, clock, interval_s=60).publish_once()
    elapsed = time.perf_counter() - started
    built = int(await db.pool.fetchval("SELECT count(*) FROM invoices WHERE total > 0"))
    assert published == tenants and built == tenants, (published, built)
    return elapsed, int(await db.pool.fetchval("SELECT count(*) FROM outbox"))


async def time_rebuilds(db: Database, tenants: int, count: int, seed: int) -> list[float]:
    """Seconds per tenant to rebuild its month's invoice from the raw events; each must match."""
    rng = random.Random(seed)
    timings = []
    for tenant in rng.sample(range(tenants), count):
        started = time.perf_counter()
        async with raw_billing_snapshot(db) as source:
            rebuilt = await rebuild_invoice(source, f"tenant-{tenant:04d}", "2026-10")
        timings.append(time.perf_counter() - started)
        assert rebuilt.matches and rebuilt.raw_events > 9000, (rebuilt.differences, rebuilt.raw_events)
    return timings


async def run(args: argparse.Namespace, server_url: str) -> dict[str, object]:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute("DROP DATABASE IF EXISTS metering_queries WITH (FORCE)")
        await admin.execute("CREATE DATABASE metering_queries")
    finally:
        await admin.close()
    url = with_database(server_url, "metering_queries")
    await migrate(url, SCHEMA, MIGRATIONS)
    # One connection, so that its backend's CPU time is the queries'.
    db = Database(await create_pool(url, SCHEMA, min_size=1, max_size=1))
    try:
        loaded = await load(db, args.tenants, args.minutes)
        await time_queries(db, args.tenants, 20, args.seed + 1)  # warm the caches and prepared statements
        queries, query_cpu_ms = await time_queries(db, args.tenants, args.queries, args.seed)
        http = await time_http(db, args.tenants, args.queries // 2, args.seed)
        invoices_s, snapshots = await time_invoices(db, args.tenants)
        rebuilds = await time_rebuilds(db, args.tenants, args.rebuilds, args.seed)
    finally:
        await db.close()
    return {
        "loaded": loaded,
        "queries": queries,
        "query_cpu_ms": query_cpu_ms,
        "http": http,
        "invoices_s": invoices_s,
        "snapshots": snapshots,
        "rebuilds": rebuilds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=10, help="active minutes per series per day")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rebuilds", type=int, default=5, help="tenants whose invoice is rebuilt")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aifactory-metering-queries-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg").start()
        try:
            result = asyncio.run(run(args, postgres.url))
        finally:
            postgres.stop()

    loaded: dict[str, float] = result["loaded"]  # type: ignore[assignment]
    queries: list[float] = result["queries"]  # type: ignore[assignment]
    http: list[float] = result["http"]  # type: ignore[assignment]
    invoices_s: float = result["invoices_s"]  # type: ignore[assignment]
    rebuilds: list[float] = result["rebuilds"]  # type: ignore[assignment]
    figures = {
        "events_stored": int(loaded["events"]),
        "events_in_rollups": int(loaded["events_in_rollups"]),
        "rollup_rows": {grain: int(loaded[f"{grain}_rows"]) for grain in ("minute", "hour", "day")},
        "raw_load_s": round(loaded["raw_load_s"], 1),
        "load_s": round(loaded["load_s"], 1),
        "query_p50_ms": round(percentile(queries, 50), 2),
        "query_p99_ms": round(percentile(queries, 99), 2),
        "query_cpu_ms_mean": round(float(result["query_cpu_ms"]), 2),  # type: ignore[arg-type]
        "http_p50_ms": round(percentile(http, 50), 2),
        "http_p99_ms": round(percentile(http, 99), 2),
        "invoices": args.tenants,
        "invoices_s": round(invoices_s, 2),
        "rebuild_one_tenant_month_s": round(statistics.median(rebuilds), 2),
    }
    print(f"{'figure':<52}{'value':>16}  target")
    print(f"{'usage events stored raw (10M target)':<52}{figures['events_stored']:>16,}")
    print(f"{'usage events counted in the rollups':<52}{figures['events_in_rollups']:>16,}")
    for grain, rows in figures["rollup_rows"].items():  # type: ignore[attr-defined]
        print(f"{f'{grain} rollup rows':<52}{rows:>16,}")
    print(f"{'load raw events (rows + primary key), s':<52}{figures['raw_load_s']:>16}")
    print(f"{'load all (raw + rollups + billing rows + analyze), s':<52}{figures['load_s']:>16}")
    print(f"{'one tenant month by project/model/day, p50 ms':<52}{figures['query_p50_ms']:>16}")
    print(
        f"{'one tenant month by project/model/day, p99 ms':<52}{figures['query_p99_ms']:>16}  < {TARGETS['query_p99_ms']}"
    )
    print(f"{'  CPU per query, client + PostgreSQL backend, ms':<52}{figures['query_cpu_ms_mean']:>16}")
    print(f"{'same through the HTTP API (in process), p50 ms':<52}{figures['http_p50_ms']:>16}")
    print(f"{'same through the HTTP API (in process), p99 ms':<52}{figures['http_p99_ms']:>16}")
    print(
        f"{f'build + save + announce {args.tenants} invoices, s':<52}{figures['invoices_s']:>16}  < {TARGETS['invoices_1000_tenants_s']}"
    )
    print(
        f"{'rebuild one tenant month from raw events, median s':<52}{figures['rebuild_one_tenant_month_s']:>16}"
    )
    print(
        json.dumps(
            figures
            | {
                "load_average_1m": round(os.getloadavg()[0], 2),
                "targets": TARGETS,
                "references": REFERENCES,
            }
        )
    )


if __name__ == "__main__":
    main()
