"""A tenant's daily commands: submit, list and cancel jobs, read invoices."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group

from services.cli.admin_commands import ProjectOption, default_project
from services.cli.connection import ApiKey, GatewayUrl, Output, OutputFormat, respond
from services.cli.render import invoice_table, jobs_table, record_table


def submit(
    command: Annotated[list[str], typer.Argument(help="The program and its arguments (after --).")],
    project: ProjectOption = None,
    name: Annotated[str, typer.Option(help="Job name.")] = "job",
    kind: Annotated[str, typer.Option(help="training or inference.")] = "training",
    replicas: int = 1,
    gpus: Annotated[int, typer.Option(help="GPUs per replica.")] = 1,
    gpu_fraction: Annotated[
        str | None, typer.Option(help="A share of one GPU per replica, in (0, 1], e.g. 0.5 (with --gpus 1).")
    ] = None,
    gpu_model: Annotated[list[str] | None, typer.Option(help="Acceptable GPU model (repeatable).")] = None,
    priority_class: Annotated[
        str | None,
        typer.Option(help="One of the operator's priority classes (default: the default class)."),
    ] = None,
    idempotency_key: str | None = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.JSON,
) -> None:
    """Submit a job: aifactory submit [--project prj_x] -- python train.py"""
    project_id = default_project(project)
    spec: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "replicas": replicas,
        "gpus_per_replica": gpus,
        "gpu_models": gpu_model or [],
        "command": command,
    }
    if gpu_fraction is not None:
        spec["gpu_fraction"] = gpu_fraction  # checked by the gateway (a problem names a bad value)
    if priority_class is not None:
        spec["priority_class"] = priority_class  # the gateway refuses a class the project may not use
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.submit(project_id, spec, idempotency_key),
        lambda job: jobs_table([job], title=f"submitted {job['job_id']}"),
    )


def jobs(
    project: Annotated[str | None, typer.Option(help="Only this project's jobs.")] = None,
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """List jobs."""
    respond(gateway, api_key, output, lambda client: client.jobs(project_id=project, state=state), jobs_table)


def cancel(
    job_id: str, gateway: GatewayUrl = None, api_key: ApiKey = None, output: OutputFormat = Output.TABLE
) -> None:
    """Cancel a job."""
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.cancel(job_id),
        lambda job: record_table(
            f"cancel requested for {job['job_id']}", {"state": job["state"], "reason": job["reason"]}
        ),
    )


def invoice(
    tenant: Annotated[str | None, typer.Option(help="Operator: the tenant.")] = None,
    period: Annotated[str | None, typer.Option(help="YYYY-MM.")] = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Show invoices (the operator passes --tenant)."""
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.invoices(tenant, period),
        lambda items: Group(*map(invoice_table, items)) if items else "no invoices yet",
    )


def register(app: typer.Typer) -> None:
    for command in (submit, jobs, cancel, invoice):
        app.command()(command)
