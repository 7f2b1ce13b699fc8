"""Rich tables for jobs and invoices."""

from __future__ import annotations

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
