"""The fleet and what it is used for: `nodes`, `usage`, and `status`, the one-screen summary (the fleet's
nodes and GPUs, the jobs by state, this month's spend per tenant)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from services.cli.connection import ApiKey, GatewayUrl, Output, OutputFormat, respond
from services.cli.render import NODE_COLUMNS, USAGE_COLUMNS, rows_table
from shared.client.gateway import GatewayClient, GatewayError

# Jobs holding GPUs: placed on a node, or running there.
HOLDING_GPUS = ("scheduled", "running")


def nodes(gateway: GatewayUrl = None, api_key: ApiKey = None, output: OutputFormat = Output.TABLE) -> None:
    """Every node with its state and GPUs (operator)."""
    respond(
        gateway, api_key, output, lambda c: c.nodes(), lambda items: rows_table("nodes", NODE_COLUMNS, items)
    )


def usage(
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: the 1st).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="The day after the last (default: next month's 1st).")
    ] = None,
    group_by: Annotated[str, typer.Option(help="Comma-separated: project, gpu_model.")] = "project,gpu_model",
    meter: Annotated[list[str] | None, typer.Option(help="Only this meter (repeatable).")] = None,
    granularity: Annotated[str, typer.Option(help="day, hour or minute.")] = "day",
    project: Annotated[str | None, typer.Option(help="Only this project's usage.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Operator: the tenant.")] = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Metered usage per window, summed per meter and the --group-by dimensions (GET /v1/usage)."""
    first, following = month_of(datetime.now(UTC).date())
    query = {
        "grain": granularity,
        "group_by": group_by,
        "meter": meter,
        "project_id": project,
        "tenant_id": tenant,
    }
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.usage(start or first.isoformat(), end or following.isoformat(), **query),
        lambda report: rows_table(
            f"usage of {report['tenant_id']} · {report['start']} to {report['end']} · per {report['grain']}",
            USAGE_COLUMNS,
            report["rows"],
        ),
    )


def month_of(day: date) -> tuple[date, date]:
    """The first day of the day's month, and of the next."""
    first = day.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following


def status(gateway: GatewayUrl = None, api_key: ApiKey = None, output: OutputFormat = Output.TABLE) -> None:
    """The fleet (nodes ready, GPUs free), the queues (jobs by state) and this month's spend."""
    respond(gateway, api_key, output, summarize, status_view)


def summarize(client: GatewayClient) -> dict[str, Any]:
    """The status as data; the fleet is the operator's to see (null for a tenant key)."""
    jobs = client.jobs()
    try:
        fleet: dict[str, Any] | None = fleet_summary(client.nodes(), jobs)
    except GatewayError as error:
        if error.status != 403:
            raise
        fleet = None
    period = datetime.now(UTC).strftime("%Y-%m")
    names = {tenant["tenant_id"]: tenant["name"] for tenant in client.tenants()}
    spend = [
        {
            "tenant_id": invoice["tenant_id"],
            "name": names.get(invoice["tenant_id"], ""),
            "total": invoice["total"],
            "currency": invoice["currency"],
            "status": invoice["status"],
        }
        for invoice in client.invoices(period=period)
        if invoice["status"] != "void"
    ]
    return {
        "fleet": fleet,
        "jobs": dict(sorted(Counter(j["state"] for j in jobs).items())),
        "period": period,
        "spend": spend,
    }


def fleet_summary(node_items: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Nodes ready of all, and GPUs of the ready nodes: in use by the jobs holding them, and free."""
    ready = [node for node in node_items if node["state"] == "ready"]
    total = sum(node["gpu_count"] for node in ready)
    in_use = sum((gpus_held(job["spec"]) for job in jobs if job["state"] in HOLDING_GPUS), Decimal(0))
    return {
        "nodes_ready": len(ready),
        "nodes_total": len(node_items),
        "gpus_total": total,
        "gpus_in_use": str(in_use),
        "gpus_free": str(max(Decimal(total) - in_use, Decimal(0))),
    }


def gpus_held(spec: dict[str, Any]) -> Decimal:
    """Replicas times GPUs each; a fractional job holds its share of one GPU per replica."""
    fraction = Decimal(str(spec.get("gpu_fraction", 1)))
    per_replica = fraction if fraction < 1 else Decimal(spec["gpus_per_replica"])
    return Decimal(spec["replicas"]) * per_replica


def status_view(summary: dict[str, Any]) -> Group:
    fleet = summary["fleet"]
    lines = Table(title="fleet", show_header=False)
    if fleet is None:
        lines.add_row("(only the operator sees the fleet)")
    else:
        lines.add_row("nodes ready", f"{fleet['nodes_ready']} of {fleet['nodes_total']}")
        lines.add_row(
            "GPUs free", f"{fleet['gpus_free']} of {fleet['gpus_total']} (in use {fleet['gpus_in_use']})"
        )
    queue = rows_table(
        "jobs by state",
        {"state": "state", "jobs": "jobs"},
        [{"state": s, "jobs": n} for s, n in summary["jobs"].items()],
    )
    spend = rows_table(
        f"spend in {summary['period']}",
        {
            "tenant": "tenant_id",
            "name": "name",
            "total": "total",
            "currency": "currency",
            "invoice": "status",
        },
        summary["spend"],
    )
    return Group(lines, queue, spend)


def register(app: typer.Typer) -> None:
    app.command("nodes")(nodes)
    app.command("usage")(usage)
    app.command("status")(status)
