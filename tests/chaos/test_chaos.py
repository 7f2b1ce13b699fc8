"""Fault injection: a few hundred short jobs from three tenants run on simulated nodes while every process
of the factory is SIGKILLed and started again in turn (a gateway, the leading scheduler with a standby
beside it, an ingest, a metering, a node agent), a server of the three-server NATS cluster is killed and
restarted, and PostgreSQL crashes and restarts. Gateway, ingest and metering run two replicas each; every
stream keeps three copies.

Afterwards: every job is terminal with the state its exit code calls for, no GPU was bound to two
allocations at once (in the allocation events and in the workloads' own records), no job ran twice, every
allocation was released once and is billed once (each tenant's invoice equals, to the cent, the bill this
test computes from the allocation events), every durable consumer has caught up, dead letters hold only
the malformed messages the test sent, and every process is alive. The report lists the faults and the
checks (printed at the end of the pytest run).

Seeds: AIFACTORY_CHAOS_SEEDS (comma-separated), default three.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from services.cli.crosscheck import read_events
from shared.events.base import Event
from shared.events.scheduler import AllocationBound, AllocationReleased
from shared.infra.launcher import Factory, FactoryConfig, pick_ports
from tests.chaos import ledger
from tests.chaos.clients import FailoverClient
from tests.chaos.faults import FaultInjector, draw_faults
from tests.chaos.probes import consumers_behind, dead_letter_ids, publish_poison, streams_with_fewer_copies
from tests.chaos.report import ChaosReport
from tests.support.nats_cluster import NatsCluster
from tests.support.workload_records import runs

E = TypeVar("E", bound=Event)
SEEDS = [int(seed) for seed in os.environ.get("AIFACTORY_CHAOS_SEEDS", "101,202,303").split(",")]
JOBS = 210
TENANTS = {"chaos-usd": ("USD", Decimal("3.60")), "chaos-eur": ("EUR", Decimal("2.70")), "chaos-jpy": ("JPY", Decimal("540"))}  # fmt: skip
SUBMIT_INTERVAL_S = 0.15
SETTLE_S = 240.0  # after the last fault: jobs finish, consumers catch up, invoices settle
TERMINAL = {"succeeded", "failed", "cancelled"}
# Writes a JSON line when it starts and when it ends (SIGTERM included): when, which job and allocation,
# which GPUs. /bin/sh rather than Python: hundreds of them start on two cores beside the factory.
WORKLOAD = r"""
records=$1 seconds=$2 code=$3
note() {
  printf '{"what":"%s","at":%s,"job":"%s","allocation":"%s","gpus":"%s"}\n' "$1" "$(date +%s.%N)" \
    "$AIFACTORY_JOB_ID" "$AIFACTORY_ALLOCATION_ID" "$CUDA_VISIBLE_DEVICES" >> "$records"
}
trap 'note end; exit 143' TERM
note start
sleep "$seconds" & wait $!
note end
exit "$code"
"""


@dataclass
class Tenant:
    name: str
    tenant_id: str
    project_id: str
    currency: str
    price: Decimal
    client: FailoverClient


@dataclass(frozen=True)
class PlannedJob:
    key: str
    tenant: str
    gpus: int
    seconds: float
    exit_code: int


def plan_jobs(rng: random.Random, seed: int) -> list[PlannedJob]:
    return [
        PlannedJob(
            f"chaos-{seed}-{index}",
            rng.choice(sorted(TENANTS)),
            rng.choice((1, 1, 2)),
            round(rng.uniform(0.2, 1.5), 2),
            3 if rng.random() < 0.1 else 0,
        )
        for index in range(JOBS)
    ]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    running = NatsCluster(tmp_path / "nats").start()
    yield running
    running.stop()


def start_factory(data_dir: Path, nats_url: str) -> Factory:
    config = FactoryConfig(
        data_dir=data_dir,
        agents=3,
        gpus_per_agent=4,
        heartbeat_s=0.5,
        sample_s=1.0,
        node_lost_after_s=15.0,  # longer than any agent's absence here: no node is lost
        replicas=2,
        schedulers=2,
        nats_url=nats_url,
        extra_env={"AIFACTORY_STREAM_REPLICAS": "3", "AIFACTORY_LEASE_TTL_S": "3"},
    )
    return Factory(pick_ports(config)).start()


def create_tenants(operator: FailoverClient) -> dict[str, Tenant]:
    tenants = {}
    for name, (currency, price) in TENANTS.items():
        created = operator.call(lambda c, n=name, cur=currency: c.create_tenant(n, cur))
        book = {"currency": currency, "gpu_hour": {"A100": str(price)}, "per_1k_tokens": "0", "per_request": "0", "per_kwh": "0"}  # fmt: skip
        operator.call(lambda c, t=created["tenant_id"], b=book: c.set_price_book(t, b))
        client = operator.with_key(created["admin_key"])
        project = client.call(lambda c: c.create_project("main"))
        operator.call(lambda c, p=project["project_id"]: c.set_quotas(p, {"A100": 6}))
        tenants[name] = Tenant(name, created["tenant_id"], project["project_id"], currency, price, client)
    return tenants


def submit_all(
    planned: list[PlannedJob], tenants: dict[str, Tenant], script: Path, records: Path, nats_url: str
) -> tuple[dict[str, str], list[str]]:
    """job_id -> planned key, and the ids of the malformed messages sent along the way."""
    submitted: dict[str, str] = {}
    poisons: list[str] = []
    for index, job in enumerate(planned):
        tenant = tenants[job.tenant]
        spec = {
            "name": job.key,
            "gpus_per_replica": job.gpus,
            "replicas": 1,
            "command": ["/bin/sh", str(script), str(records), str(job.seconds), str(job.exit_code)],
        }
        submitted[tenant.client.submit(tenant.project_id, spec, job.key)["job_id"]] = job.key
        if index % 70 == 35:
            poisons += publish_poison(nats_url)
        time.sleep(SUBMIT_INTERVAL_S)
    return submitted, poisons


def eventually(check: Callable[[], list[str]], timeout_s: float) -> list[str]:
    """Until `check()` finds no problem, or the problems left at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        problems = check()
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_nothing_is_lost_or_billed_twice_while_every_process_is_killed_in_turn(
    seed: int, cluster: NatsCluster, tmp_path: Path, chaos_reports: list[ChaosReport]
) -> None:
    rng = random.Random(seed)
    report = ChaosReport(seed)
    chaos_reports.append(report)
    factory = start_factory(tmp_path / "factory", cluster.url)
    # In the directory the sandboxed workloads share; each tenant's run as its own user appends.
    script, records = factory.share_dir / "workload.sh", factory.share_dir / "records.jsonl"
    script.write_text(WORKLOAD)
    records.touch()
    records.chmod(0o666)
    try:
        operator = FailoverClient.of(factory.urls("gateway"), factory.admin_key)
        eventually(lambda: [] if len(operator.call(lambda c: c.nodes())) == 3 else ["nodes"], 60)
        tenants = create_tenants(operator)
        planned = plan_jobs(rng, seed)
        outcome: dict[str, tuple[dict[str, str], list[str]]] = {}
        submitter = threading.Thread(
            target=lambda: outcome.update(
                sent=submit_all(planned, tenants, script, records, factory.nats_url)
            )
        )
        submitter.start()
        report.faults = FaultInjector(factory, cluster, rng).run(draw_faults(rng))
        submitter.join()
        submitted, poisons = outcome["sent"]
        by_key = {job.key: job for job in planned}
        expected_state = {
            job_id: "succeeded" if by_key[key].exit_code == 0 else "failed"
            for job_id, key in submitted.items()
        }

        def job_states() -> dict[str, str]:
            return {
                job["job_id"]: job["state"]
                for t in tenants.values()
                for job in t.client.call(lambda c: c.jobs())
            }

        report.check(
            "every job terminal, in the state its exit code calls for",
            eventually(lambda: ledger.state_problems(job_states(), expected_state), SETTLE_S),
        )
        bound = read_events_now(factory, AllocationBound)
        report.check(
            "every allocation released exactly once",
            eventually(lambda: ledger.unreleased(bound, read_events_now(factory, AllocationReleased)), 30),
        )
        released = read_events_now(factory, AllocationReleased)
        report.jobs, report.allocations = len(submitted), len(bound)
        epochs = sorted({b.epoch for b in bound})
        report.check(
            f"the standby scheduler took over: jobs bound under epochs {epochs}",
            [] if len(epochs) >= 2 else ["every allocation was bound by one leader"],
        )
        report.check(
            "no GPU bound to two allocations at once (events)", ledger.gpu_double_bookings(bound, released)
        )
        report.check(
            "each job ran once, no GPU ran two workloads at once (workloads' records)",
            ledger.workload_problems(runs(records), set(submitted)),
        )
        for tenant in tenants.values():
            expected = ledger.expected_gpu_lines(released, tenant.tenant_id, tenant.price, tenant.currency)
            report.check(
                f"{tenant.name}'s invoice equals the bill from the allocation events ({tenant.currency})",
                eventually(lambda t=tenant, e=expected: invoice_differences(t, e), 60),
            )
        report.check(
            "every stream and the leader lease kept in three copies",
            streams_with_fewer_copies(factory.nats_url, 3),
        )
        report.check(
            "every durable consumer caught up", eventually(lambda: consumers_behind(factory.nats_url), 60)
        )
        report.check(
            "dead letters hold only the malformed messages sent on purpose",
            eventually(lambda: dead_letter_problems(factory, poisons), 30),
        )
        report.check(
            "every process alive",
            [p.name for p in (*factory.services.values(), *factory.agents.values()) if not p.alive],
        )
        report.retries = sum(t.client.retries for t in tenants.values())
        failures = operator.failures  # shared with the tenants' clients
        report.check(
            f"the gateways answered only 503 while a process was down (failed tries: {dict(failures)})",
            [
                f"{count} x {status}"
                for status, count in failures.items()
                if status not in ("503", "no connection")
            ],
        )
    finally:
        factory.stop()
    assert report.passed, report.render()


def read_events_now(factory: Factory, event_type: type[E]) -> list[E]:
    return asyncio.run(read_events(factory.nats_url, event_type))


def invoice_differences(tenant: Tenant, expected: dict[str, Decimal]) -> list[str]:
    invoiced = ledger.invoiced_gpu_lines(tenant.client.call(lambda c: c.invoices()))
    if invoiced == expected:
        return []
    return [f"invoiced {invoiced}, computed from the allocation events {expected}"]


def dead_letter_problems(factory: Factory, poisons: list[str]) -> list[str]:
    found = dead_letter_ids(factory.database_url)
    problems = [
        f"dead letter {event_id} ({consumer}: {reason})"
        for event_id, consumer, reason in found
        if event_id not in poisons
    ]
    problems += [
        f"malformed message {p} not dead-lettered" for p in poisons if p not in {f[0] for f in found}
    ]
    return problems
