"""Mixed read/submit load on the gateway of an embedded factory: errors and latency at a fixed rate.

Starts a factory (simulated fleet; --tenants tenants, each with a price book, two projects and a member
key), then offers --rate requests/s for --duration seconds, open loop, from --workers generator
processes: request i is due at start + i/rate whether or not earlier ones have answered. The kinds
and their shares come from --mix; reads are a tenant's (and a few the operator's), submits are
1-GPU jobs that sleep --job-seconds, so the scheduler binds them and the agents run them meanwhile.

Latency is measured from the moment a request was due, not from when it was sent, so a gateway (or a
generator) that falls behind shows up in the figures rather than slowing the offer. A request that
gets no answer within --timeout counts as a timeout, one still open at the end as never completed;
both are errors, as are 4xx, 5xx and connection failures. On a 2-core machine the generators compete
with the factory for the CPU: their own CPU use is reported beside the gateway's and the rest's.
Prints a table, then one JSON line.

    .venv/bin/python bench/gateway_load.py --rate 1000 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import random
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from light_http import LightHttpClient
from pipeline_support import CpuMeter, load_run_config, postmaster

from shared.client.gateway import GatewayClient
from shared.infra.launcher import Factory

TARGETS = {"rate": 1000, "errors": 0}
# kind -> (method, path; {tenant}, {job}, {today} and {tomorrow} are filled in per request, as operator)
KINDS: dict[str, tuple[str, str, bool]] = {
    "list_jobs": ("GET", "/v1/jobs?page_size=20", False),
    "get_job": ("GET", "/v1/jobs/{job}", False),
    "projects": ("GET", "/v1/projects?page_size=20", False),
    "invoices": ("GET", "/v1/invoices?page_size=20", False),
    "usage": ("GET", "/v1/usage?from={today}&to={tomorrow}", False),
    "op_jobs": ("GET", "/v1/jobs?page_size=20&tenant_id={tenant}", True),
    "op_tenants": ("GET", "/v1/tenants?page_size=20", True),
    "submit": ("POST", "/v1/jobs", False),
}
DEFAULT_MIX = "list_jobs=18,get_job=18,projects=10,invoices=10,usage=9,op_jobs=3,op_tenants=2,submit=30"
OUTCOMES = ("ok", "4xx", "5xx", "timeout", "conn", "unfinished")


@dataclass
class Tenant:
    tenant_id: str
    key: str
    projects: list[str]
    jobs: list[str]


@dataclass
class Plan:
    """What one generator process sends: every `workers`-th request of the whole schedule."""

    base_url: str
    operator_key: str
    tenants: list[Tenant]
    mix: list[tuple[str, float]]
    rate: float
    duration_s: float
    start_at: float  # time.monotonic(), one clock for every process on the machine
    index: int
    workers: int
    seed: int
    timeout_s: float
    connections: int
    job_seconds: float


@dataclass
class Result:
    kind: str
    outcome: str  # one of OUTCOMES
    status: int  # 0 when no answer came
    latency_ms: float  # from the time the request was due
    lag_ms: float  # how late the generator sent it


@dataclass
class WorkerReport:
    results: list[Result] = field(default_factory=list)
    cpu_s: float = 0.0
    last_sent: float = 0.0
    last_done: float = 0.0


def parse_mix(text: str) -> list[tuple[str, float]]:
    mix = []
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind.strip() not in KINDS:
            raise ValueError(f"unknown kind {kind.strip()!r}: one of {', '.join(KINDS)}")
        mix.append((kind.strip(), float(weight)))
    return mix


def outcome_of(status: int) -> str:
    return "ok" if status < 400 else "4xx" if status < 500 else "5xx"


async def _generate(plan: Plan) -> WorkerReport:
    rng = random.Random(plan.seed * 1000 + plan.index)
    kinds, weights = zip(*plan.mix, strict=True)
    today = datetime.now(UTC).date()
    dates = {"today": today.isoformat(), "tomorrow": (today + timedelta(days=1)).isoformat()}
    clients = {
        t.tenant_id: LightHttpClient(plan.base_url, {"Authorization": f"Bearer {t.key}"}, plan.connections)
        for t in plan.tenants
    }
    operator = LightHttpClient(
        plan.base_url, {"Authorization": f"Bearer {plan.operator_key}"}, plan.connections
    )
    spec = {"gpus_per_replica": 1, "command": ["sleep", f"{plan.job_seconds:g}"]}
    report = WorkerReport()

    async def fire(kind: str, tenant: Tenant, due: float) -> None:
        method, template, as_operator = KINDS[kind]
        client = operator if as_operator else clients[tenant.tenant_id]
        path = template.format(tenant=tenant.tenant_id, job=rng.choice(tenant.jobs), **dates)
        sent = time.monotonic()
        status = 0
        try:
            if method == "POST":
                body = {"project_id": rng.choice(tenant.projects), "spec": spec | {"name": f"load-{due:.3f}"}}
                status, answer = await asyncio.wait_for(client.post_json(path, body), plan.timeout_s)
                if status == 201:
                    tenant.jobs.append(answer["job_id"])
            else:
                status, _ = await asyncio.wait_for(client.get_json(path), plan.timeout_s)
            outcome = outcome_of(status)
        except TimeoutError:
            outcome = "timeout"
        except (OSError, EOFError, ValueError, asyncio.IncompleteReadError):
            outcome = "conn"
        done = time.monotonic()
        report.last_done = max(report.last_done, done)
        report.results.append(Result(kind, outcome, status, (done - due) * 1000, (sent - due) * 1000))

    cpu_before = time.process_time()
    count = int(plan.rate * plan.duration_s)
    tasks: dict[asyncio.Task[None], tuple[str, float]] = {}
    for i in range(plan.index, count, plan.workers):
        due = plan.start_at + i / plan.rate
        kind = rng.choices(kinds, weights)[0]
        tenant = rng.choice(plan.tenants)
        if (delay := due - time.monotonic()) > 0.0005:
            await asyncio.sleep(delay)
        tasks[asyncio.create_task(fire(kind, tenant, due))] = (kind, due)
    report.last_sent = time.monotonic()
    _, pending = await asyncio.wait(tasks, timeout=plan.timeout_s + 5)
    for task in pending:  # a request the timeout did not end: counted, never dropped
        task.cancel()
        kind, due = tasks[task]
        report.results.append(Result(kind, "unfinished", 0, (time.monotonic() - due) * 1000, 0.0))
    for client in (*clients.values(), operator):
        await client.close()
    report.cpu_s = time.process_time() - cpu_before
    return report


def run_worker(plan: Plan) -> WorkerReport:
    return asyncio.run(_generate(plan))


def set_up(factory: Factory, args: argparse.Namespace) -> list[Tenant]:
    operator = GatewayClient(factory.gateway_url, factory.admin_key)
    deadline = time.monotonic() + 60
    while len([n for n in operator.nodes() if n["state"] == "ready"]) < args.agents:
        if time.monotonic() > deadline:
            raise TimeoutError("nodes did not register")
        time.sleep(0.2)
    tenants = []
    for t in range(args.tenants):
        created = operator.create_tenant(f"load-{t}", "USD")
        tenant_id = created["tenant_id"]
        operator.set_price_book(tenant_id, {"currency": "USD", "gpu_hour": {"A100": "2"}})
        admin = operator.with_key(created["admin_key"])
        projects = [admin.create_project(f"load-{t}-{p}")["project_id"] for p in range(2)]
        member = operator.create_key(tenant_id, "member", "load")["api_key"]
        spec = {"name": "seed", "gpus_per_replica": 1, "command": ["sleep", "1"]}
        jobs = [admin.submit(projects[j % 2], spec)["job_id"] for j in range(10)]
        tenants.append(Tenant(tenant_id, member, projects, jobs))
    operator.close()
    return tenants


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of them at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(results: list[Result]) -> dict[str, Any]:
    outcomes = Counter(r.outcome for r in results)
    latencies = [r.latency_ms for r in results]
    return {
        "sent": len(results),
        **{outcome: outcomes.get(outcome, 0) for outcome in OUTCOMES},
        "errors": len(results) - outcomes.get("ok", 0),
        "error_statuses": dict(sorted(Counter(str(r.status) for r in results if r.status >= 400).items())),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies, default=float("nan")), 1),
    }


def factory_processes(factory: Factory) -> dict[str, list[psutil.Process]]:
    others = [
        psutil.Process(s.process.pid)
        for name, s in (*factory.services.items(), *factory.agents.items())
        if name != "gateway" and s.process is not None
    ]
    if factory.nats and factory.nats.process:
        others.append(psutil.Process(factory.nats.process.pid))
    with contextlib.suppress(LookupError):
        others.append(postmaster(factory.data_dir / "postgres"))
    gateway = factory.services["gateway"].process
    assert gateway is not None
    return {"gateway": [psutil.Process(gateway.pid)], "rest_of_factory": others}


def load(factory: Factory, tenants: list[Tenant], args: argparse.Namespace) -> dict[str, Any]:
    start_at = time.monotonic() + 3.0  # the generators' interpreters start meanwhile
    plans = [
        Plan(factory.gateway_url, factory.admin_key, tenants, parse_mix(args.mix), args.rate, args.duration,
             start_at, index, args.workers, args.seed, args.timeout, args.connections, args.job_seconds)
        for index in range(args.workers)
    ]  # fmt: skip
    meters = {name: CpuMeter(*procs) for name, procs in factory_processes(factory).items()}
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_worker, plan) for plan in plans]
        time.sleep(max(0.0, start_at - time.monotonic()))
        for meter in meters.values():
            meter.lap()
        machine_before = psutil.cpu_times()
        reports = [future.result() for future in futures]
    wall_s = time.monotonic() - start_at
    machine_after = psutil.cpu_times()
    busy = sum(machine_after) - sum(machine_before)
    idle = (machine_after.idle + machine_after.iowait) - (machine_before.idle + machine_before.iowait)
    cpu = {name: meter.lap() for name, meter in meters.items()}
    cpu["generator"] = sum(r.cpu_s for r in reports)
    results = [result for report in reports for result in report.results]
    ok = sum(r.outcome == "ok" for r in results)
    last_sent = max(r.last_sent for r in reports)
    last_done = max(r.last_done for r in reports)
    return {
        "results": results,
        "wall_s": wall_s,
        "sent_rate": len(results) / max(1e-9, last_sent - start_at),
        "achieved_rate": ok / max(1e-9, last_done - start_at),
        "lag_p99_ms": percentile([r.lag_ms for r in results if r.outcome != "unfinished"], 0.99),
        "cpu_cores": {name: round(seconds / wall_s, 2) for name, seconds in cpu.items()},
        "machine_busy_pct": round(100 * (1 - idle / busy), 1) if busy else 0.0,
    }


def leftovers(data_dir: str) -> int:
    """Kill (by pid) anything still running from this run's data directory; how many there were."""
    found = 0
    for process in psutil.process_iter(["cmdline"]):
        if data_dir in " ".join(process.info["cmdline"] or []):
            found += 1
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
    return found


def print_report(measured: dict[str, Any], args: argparse.Namespace) -> None:
    results: list[Result] = measured["results"]
    kinds = [kind for kind, _ in parse_mix(args.mix)]
    per_kind = {kind: summarize([r for r in results if r.kind == kind]) for kind in kinds}
    overall = summarize(results)
    head = f"{'kind':<12}{'sent':>8}{'ok':>8}{'4xx':>6}{'5xx':>6}{'t/out':>7}{'conn':>6}{'unfin':>7}"
    print(head + f"{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind, row in (*per_kind.items(), ("all", overall)):
        print(
            f"{kind:<12}{row['sent']:>8}{row['ok']:>8}{row['4xx']:>6}{row['5xx']:>6}{row['timeout']:>7}"
            f"{row['conn']:>6}{row['unfinished']:>7}{row['p50_ms']:>10}{row['p99_ms']:>10}{row['max_ms']:>10}"
        )
    print(
        f"offered {args.rate:g}/s for {args.duration:g} s; sent {measured['sent_rate']:.0f}/s; "
        f"answered ok {measured['achieved_rate']:.0f}/s; errors {overall['errors']} "
        f"(4xx, 5xx, timeouts after {args.timeout:g} s, connection failures and never completed); "
        f"generator send lag p99 {measured['lag_p99_ms']:.1f} ms"
    )
    print(
        f"CPU (cores of {psutil.cpu_count()}): {measured['cpu_cores']}; "
        f"machine busy {measured['machine_busy_pct']}%"
    )
    print(json.dumps({
        "offered_rate": args.rate,
        "achieved_rate": round(measured["achieved_rate"], 1),
        "sent_rate": round(measured["sent_rate"], 1),
        "duration_s": args.duration,
        "errors": overall["errors"],
        "p50_ms": overall["p50_ms"],
        "p99_ms": overall["p99_ms"],
        "overall": overall,
        "per_kind": per_kind,
        "cpu_cores": measured["cpu_cores"],
        "machine_busy_pct": measured["machine_busy_pct"],
        "generator_lag_p99_ms": round(measured["lag_p99_ms"], 1),
        "mix": args.mix,
        "timeout_s": args.timeout,
        "targets": TARGETS,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="offered requests/s")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"kind=weight,... (kinds: {', '.join(KINDS)})")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="generator processes")
    parser.add_argument(
        "--connections", type=int, default=8, help="keep-alive connections per key per worker"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a request is a timeout")
    parser.add_argument("--job-seconds", type=float, default=1.0, help="how long each submitted job sleeps")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--gpus-per-agent", type=int, default=512)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    try:
        parse_mix(args.mix)
    except ValueError as error:
        parser.error(str(error))

    with tempfile.TemporaryDirectory(prefix="aifactory-load-") as data_dir:
        config = load_run_config(
            Path(data_dir), args.agents, args.gpus_per_agent, workloads_die_with_agents=True
        )
        factory = Factory(config).start()
        try:
            measured = load(factory, set_up(factory, args), args)
        finally:
            factory.stop()
            left = leftovers(data_dir)
    if left:
        print(f"killed {left} processes the factory left behind")
    print_report(measured, args)


if __name__ == "__main__":
    main()
