"""`aifactory demo`: a fresh embedded factory, two tenants, a mix of real short jobs, their invoices."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from services.cli.crosscheck import (
    expected_gpu_lines,
    gpu_seconds_by_line,
    invoice_gpu_lines,
    read_released_allocations,
)
from services.cli.render import invoice_table, jobs_table
from shared.client.gateway import GatewayClient
from shared.infra.embedded import remove_tree
from shared.infra.launcher import Factory, FactoryConfig, pick_ports

TERMINAL = {"succeeded", "failed", "cancelled"}

TENANTS: list[dict[str, Any]] = [
    {
        "name": "acme",
        "currency": "USD",
        "prices": {
            "gpu_hour": {"A100": "2.50"},
            "per_1k_tokens": "0.002",
            "per_request": "0.0001",
            "per_kwh": "0.15",
        },
        "projects": {"research": {"A100": 4}, "serving": {"A100": 2}},
    },
    {
        "name": "globex",
        "currency": "EUR",
        "prices": {"gpu_hour": {"A100": "2.10"}, "per_1k_tokens": "0", "per_request": "0", "per_kwh": "0.20"},
        "projects": {"vision": {"A100": 4}},
    },
]


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _train(name: str, seconds: float, replicas: int = 1, gpus: int = 1, exit_code: int = 0) -> dict[str, Any]:
    code = (
        "import os, time; "
        f"print('{name}: replica', os.environ['AIFACTORY_REPLICA'], "
        "'on', os.environ['CUDA_VISIBLE_DEVICES']); "
        f"time.sleep({seconds}); raise SystemExit({exit_code})"
    )
    return {"name": name, "replicas": replicas, "gpus_per_replica": gpus, "command": _python(code)}


SERVE = "import time\nwhile True:\n    time.sleep(0.5)"

# (tenant, project, spec): the research quota (4 A100) makes train-large wait for the others.
WORKLOAD: list[tuple[str, str, dict[str, Any]]] = [
    ("acme", "research", _train("train-small", 4, gpus=2)),
    ("acme", "research", _train("train-gang", 5, replicas=2, gpus=1)),
    ("acme", "research", _train("train-large", 3, gpus=4)),
    ("acme", "serving", {"name": "llm-serve", "kind": "inference", "replicas": 2, "command": _python(SERVE)}),
    ("globex", "vision", _train("vision-finetune", 6, gpus=4)),
    ("globex", "vision", _train("vision-broken", 1, exit_code=3)),
]


def run_demo(data_dir: Path, console: Console) -> None:
    remove_tree(data_dir)  # the demo always starts from nothing
    config = pick_ports(
        FactoryConfig(data_dir=data_dir, agents=2, gpus_per_agent=4, heartbeat_s=1, sample_s=1)
    )
    factory = Factory(config, progress=lambda msg: console.print(f"[cyan]•[/] {msg}"))
    with console.status("starting the factory"):
        factory.start()
    try:
        operator = GatewayClient(factory.gateway_url, factory.admin_key)
        _wait_for_nodes(operator, config.agents)
        tenants = _set_up_tenants(operator, console)
        jobs = _submit_workload(operator, tenants)
        _follow(operator, jobs, console)
        _print_invoices(operator, factory, tenants, console)
    finally:
        with console.status("stopping the factory"):
            factory.stop()
    console.print(f"[green]demo done[/]; logs under {data_dir}/logs")


def _wait_for_nodes(operator: GatewayClient, count: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while len([n for n in operator.nodes() if n["state"] == "ready"]) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} nodes did not register within {timeout_s}s")
        time.sleep(0.3)


def _set_up_tenants(operator: GatewayClient, console: Console) -> dict[str, dict[str, Any]]:
    tenants: dict[str, dict[str, Any]] = {}
    for plan in TENANTS:
        tenant = operator.create_tenant(plan["name"], plan["currency"])
        tenant_id = tenant["tenant_id"]
        admin = operator.with_key(tenant["admin_key"])
        operator.set_price_book(tenant_id, {"currency": plan["currency"], **plan["prices"]})
        projects = {}
        for project_name, quotas in plan["projects"].items():
            project = admin.create_project(project_name)
            operator.set_quotas(project["project_id"], quotas)
            projects[project_name] = project["project_id"]
        tenants[plan["name"]] = {"id": tenant_id, "client": admin, "projects": projects, "plan": plan}
        console.print(
            f"tenant [bold]{plan['name']}[/] ({tenant_id}, {plan['currency']}): projects {projects}"
        )
    return tenants


def _submit_workload(operator: GatewayClient, tenants: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    jobs = []
    for tenant_name, project_name, spec in WORKLOAD:
        tenant = tenants[tenant_name]
        job = tenant["client"].submit(tenant["projects"][project_name], spec)
        jobs.append(job)
    return jobs


def _follow(
    operator: GatewayClient, jobs: list[dict[str, Any]], console: Console, timeout_s: float = 120
) -> None:
    """Show the jobs live; stop the inference service after it has served for a while."""
    started = time.monotonic()
    serving_since: float | None = None
    ids = [job["job_id"] for job in jobs]
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            current = [operator.job(job_id) for job_id in ids]
            live.update(jobs_table(current, title=f"jobs ({time.monotonic() - started:.0f}s)"))
            service = next(j for j in current if j["spec"]["kind"] == "inference")
            if service["state"] == "running" and serving_since is None:
                serving_since = time.monotonic()
            others_done = all(j["state"] in TERMINAL for j in current if j is not service)
            if serving_since and others_done and service["state"] == "running":
                operator.cancel(service["job_id"])
            if all(j["state"] in TERMINAL for j in current):
                return
            if time.monotonic() - started > timeout_s:
                raise TimeoutError("jobs did not finish in time; see the logs")
            time.sleep(0.5)


def _print_invoices(
    operator: GatewayClient, factory: Factory, tenants: dict[str, dict[str, Any]], console: Console
) -> None:
    released = read_released_allocations(factory.nats_url)
    check = Table(title="cross-check: allocation runtimes × price book vs invoice GPU lines")
    for column in (
        "tenant",
        "project",
        "GPU-s (allocations)",
        "GPU-s (invoice)",
        "runtimes × price",
        "invoice",
        "",
    ):
        check.add_column(column)
    for name, tenant in tenants.items():
        plan = tenant["plan"]
        prices = {model: Decimal(price) for model, price in plan["prices"]["gpu_hour"].items()}
        expected = expected_gpu_lines(released, tenant["id"], prices, plan["currency"])
        invoice = _settled_invoice(operator, tenant["id"], expected)
        console.print(invoice_table(invoice))
        billed = invoice_gpu_lines(invoice)
        seconds = gpu_seconds_by_line(released, tenant["id"])
        billed_seconds = {
            # The quantity is GPU-hours to a finite number of places: back to seconds (in thousandths,
            # a fractional GPU's share having 3 decimals at most).
            (line["project_id"], line["gpu_model"]): (Decimal(str(line["quantity"])) * 3600).quantize(
                Decimal("0.001")
            )
            for line in invoice["lines"]
            if line["meter"] == "gpu_hours"
        }
        project_names = {v: k for k, v in tenant["projects"].items()}
        for key, amount in sorted(expected.items()):
            got = billed.get(key)
            mark = "[green]✓[/]" if got == amount and billed_seconds.get(key) == seconds[key] else "[red]✗[/]"
            got_seconds = billed_seconds.get(key)
            check.add_row(
                name,
                project_names.get(key[0], key[0]),
                f"{seconds[key].normalize():f}",
                f"{got_seconds.normalize():f}" if got_seconds is not None else "-",
                f"{amount} {plan['currency']}",
                f"{got} {plan['currency']}",
                mark,
            )
    console.print(check)


def _settled_invoice(
    operator: GatewayClient, tenant_id: str, expected: dict[tuple[str, str], Decimal], timeout_s: float = 30
) -> dict[str, Any]:
    """The tenant's invoice once its GPU lines reflect every released allocation (or the last seen)."""
    deadline = time.monotonic() + timeout_s
    invoice: dict[str, Any] = {}
    while time.monotonic() < deadline:
        invoices = operator.invoices(tenant_id)
        if invoices:
            invoice = invoices[0]
            if invoice_gpu_lines(invoice) == expected:
                return invoice
        time.sleep(0.5)
    if not invoice:
        raise TimeoutError(f"no invoice for {tenant_id} within {timeout_s}s")
    return invoice
