"""Rich tables for the client commands: jobs, invoices, and the administration records."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rich.table import Table

STATE_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "pending": "dim",
}


def jobs_table(jobs: list[dict[str, Any]], title: str = "jobs") -> Table:
    table = Table(title=title)
    for column in ("job", "name", "kind", "GPUs", "state", "reason"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        spec = job["spec"]
        style = STATE_STYLE.get(job["state"], "")
        table.add_row(
            job["job_id"],
            spec["name"],
            spec["kind"],
            f"{spec['replicas']}×{_gpus_per_replica(spec)}",
            f"[{style}]{job['state']}[/]" if style else job["state"],
            job.get("reason") or "",
        )
    return table


def _gpus_per_replica(spec: dict[str, Any]) -> str:
    """Whole GPUs, or the share of one GPU ("0.5") of a fractional job."""
    fraction = Decimal(str(spec.get("gpu_fraction", 1)))
    return str(fraction) if fraction < 1 else str(spec["gpus_per_replica"])


def invoice_table(invoice: dict[str, Any]) -> Table:
    currency = invoice["currency"]
    table = Table(
        title=f"invoice {invoice['invoice_id']} · {invoice['period']} · {invoice['status']}",
        caption=f"total {invoice['total']} {currency}"
        + (
            f" (credit applied {invoice['credit_applied']})"
            if Decimal(str(invoice.get("credit_applied", 0)))
            else ""
        ),
    )
    for column in ("project", "meter", "GPU model", "quantity", "unit", "price", "amount"):
        table.add_column(column, justify="right" if column in ("quantity", "price", "amount") else "left")
    for line in invoice["lines"]:
        adjusts = line.get("adjusts_period")
        table.add_row(
            line["project_id"] or "(tenant)",  # shortfall and credit lines are tenant-wide
            f"{line['meter']} of {adjusts}" if adjusts else line["meter"],
            line.get("gpu_model") or "",
            f"{float(line['quantity']):.6f}",
            line["unit"],
            str(line["unit_price"]),
            f"{line['amount']} {currency}",
        )
    return table


def rows_table(title: str, columns: dict[str, str], items: list[dict[str, Any]]) -> Table:
    """One row per item; `columns` maps each heading to the item's key (missing or null: blank)."""
    table = Table(title=title)
    for heading in columns:
        table.add_column(heading, overflow="fold")
    for item in items:
        table.add_row(*(_cell(item.get(key)) for key in columns.values()))
    return table


def record_table(title: str, record: dict[str, Any], caption: str | None = None) -> Table:
    """One record as field / value rows; lists and mappings as compact JSON."""
    table = Table(title=title, caption=caption, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        table.add_row(key, _cell(value))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


TENANT_COLUMNS = {"tenant": "tenant_id", "name": "name", "currency": "currency", "created": "created_at"}
PROJECT_COLUMNS = {"project": "project_id", "tenant": "tenant_id", "name": "name", "created": "created_at"}
NODE_COLUMNS = {
    "node": "node_id",
    "state": "state",
    "GPU model": "gpu_model",
    "GPUs": "gpu_count",
    "since": "changed_at",
}
BUDGET_COLUMNS = {
    "budget": "budget_id",
    "project": "project_id",
    "amount": "amount",
    "currency": "currency",
    "spend": "spend",
    "forecast": "forecast_spend",
    "hard cap": "hard_cap",
    "exhausted": "exhausted",
}
USAGE_COLUMNS = {
    "from": "window_start",
    "project": "project_id",
    "GPU model": "gpu_model",
    "meter": "meter",
    "sum": "sum",
    "unit": "unit",
    "records": "count",
}


def quotas_table(answer: dict[str, Any]) -> Table:
    items = [{"gpu_model": model, "gpus": gpus} for model, gpus in answer["quotas"].items()]
    return rows_table(f"quotas of {answer['project_id']}", {"GPU model": "gpu_model", "GPUs": "gpus"}, items)


def price_book_table(book: dict[str, Any]) -> Table:
    prices = {f"gpu_hour.{model}": price for model, price in book["gpu_hour"].items()}
    rest = {k: v for k, v in book.items() if k not in ("tenant_id", "gpu_hour", "plans", "commitments")}
    extras = {k: book[k] for k in ("plans", "commitments") if book.get(k)}
    return record_table(f"price book of {book['tenant_id']}", prices | rest | extras)
