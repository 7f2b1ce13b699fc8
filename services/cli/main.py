"""The `aifactory` command: run the embedded factory, the demo, and talk to a running gateway."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.cli.rebuild_command import invoice_rebuild
from services.cli.render import invoice_table, jobs_table
from services.cli.sim_command import sim
from shared.client.gateway import GatewayClient, GatewayError
from shared.infra.launcher import Factory, FactoryConfig

app = typer.Typer(help="aifactory: a governed, metered GPU platform.", no_args_is_help=True)
app.command("sim")(sim)
app.command("invoice-rebuild")(invoice_rebuild)
console = Console()

DataDir = Annotated[Path, typer.Option(help="Where NATS and PostgreSQL keep their data, and the logs.")]
GatewayUrl = Annotated[
    str | None, typer.Option("--gateway", envvar="AIFACTORY_GATEWAY_URL", help="Gateway URL.")
]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="AIFACTORY_API_KEY", help="API key.")]


@app.command()
def up(
    data_dir: DataDir = Path(".aifactory"),
    agents: Annotated[int, typer.Option(help="Simulated node agents to start.")] = 2,
    gpus_per_agent: Annotated[int, typer.Option(help="GPUs on each simulated node.")] = 8,
    gpu_model: Annotated[str, typer.Option(help="GPU model of the simulated nodes.")] = "A100",
    port: Annotated[int, typer.Option(help="Gateway HTTP port.")] = 8000,
) -> None:
    """Start NATS, PostgreSQL, every service and simulated agents; Ctrl-C stops them all."""
    config = FactoryConfig(
        data_dir=data_dir,
        agents=agents,
        gpus_per_agent=gpus_per_agent,
        gpu_model=gpu_model,
        gateway_port=port,
    )
    factory = Factory(config, progress=lambda msg: console.print(f"[cyan]•[/] {msg}"))
    with console.status("starting the factory"):
        factory.start()
    console.print(f"[green]aifactory is up[/]: gateway {factory.gateway_url}, ingest {factory.ingest_url}")
    console.print(f"operator API key: [bold]{factory.admin_key}[/] (also in {data_dir}/connection.env)")
    console.print(
        "client commands pick the key up with: [bold]set -a; . .aifactory/connection.env; set +a[/]"
    )
    try:
        while all(s.alive for s in factory.services.values()):
            time.sleep(0.5)
        console.print(f"[red]a service exited; stopping[/] (see the logs under {data_dir}/logs)")
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        factory.stop()
    console.print("[green]stopped[/]")


@app.command()
def demo(data_dir: DataDir = Path(".aifactory/demo")) -> None:
    """Bring a fresh factory up, run two tenants' jobs through it, print their invoices, stop."""
    from services.cli.demo import run_demo

    run_demo(data_dir, console)


def _client(gateway: str | None, api_key: str | None) -> GatewayClient:
    saved = _saved_connection()
    url = gateway or saved.get("AIFACTORY_GATEWAY_URL") or "http://127.0.0.1:8000"
    key = api_key or saved.get("AIFACTORY_API_KEY")
    if not key:
        raise typer.BadParameter("no API key: pass --api-key or set AIFACTORY_API_KEY")
    return GatewayClient(url, key)


def _saved_connection() -> dict[str, str]:
    path = Path(os.environ.get("AIFACTORY_CONNECTION_FILE", ".aifactory/connection.env"))
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def _fail(error: GatewayError) -> None:
    console.print(f"[red]{error}[/]")
    raise typer.Exit(1)


@app.command()
def submit(
    project: Annotated[str, typer.Option(help="Project id.")],
    command: Annotated[list[str], typer.Argument(help="The program and its arguments (after --).")],
    name: Annotated[str, typer.Option(help="Job name.")] = "job",
    kind: Annotated[str, typer.Option(help="training or inference.")] = "training",
    replicas: int = 1,
    gpus: Annotated[int, typer.Option(help="GPUs per replica.")] = 1,
    gpu_fraction: Annotated[
        str | None, typer.Option(help="A share of one GPU per replica, in (0, 1], e.g. 0.5 (with --gpus 1).")
    ] = None,
    gpu_model: Annotated[list[str] | None, typer.Option(help="Acceptable GPU model (repeatable).")] = None,
    idempotency_key: str | None = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Submit a job: aifactory submit --project prj_x -- python train.py"""
    spec = {
        "name": name,
        "kind": kind,
        "replicas": replicas,
        "gpus_per_replica": gpus,
        "gpu_models": gpu_model or [],
        "command": command,
    }
    if gpu_fraction is not None:
        spec["gpu_fraction"] = gpu_fraction  # checked by the gateway (a problem names a bad value)
    try:
        job = _client(gateway, api_key).submit(project, spec, idempotency_key)
    except GatewayError as error:
        _fail(error)
    console.print_json(json.dumps(job))


@app.command()
def jobs(
    project: str | None = None, state: str | None = None, gateway: GatewayUrl = None, api_key: ApiKey = None
) -> None:
    """List jobs."""
    try:
        items = _client(gateway, api_key).jobs(project_id=project, state=state)
    except GatewayError as error:
        _fail(error)
    console.print(jobs_table(items))


@app.command()
def cancel(job_id: str, gateway: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Cancel a job."""
    try:
        job = _client(gateway, api_key).cancel(job_id)
    except GatewayError as error:
        _fail(error)
    console.print(f"cancel requested for {job['job_id']} (state {job['state']})")


@app.command()
def invoice(tenant: str | None = None, gateway: GatewayUrl = None, api_key: ApiKey = None) -> None:
    """Show invoices (the operator passes --tenant)."""
    try:
        items = _client(gateway, api_key).invoices(tenant)
    except GatewayError as error:
        _fail(error)
    if not items:
        console.print("no invoices yet")
    for item in items:
        console.print(invoice_table(item))


if __name__ == "__main__":
    app()
