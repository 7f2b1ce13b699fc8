"""Presenting a simulation: a rich table, the JSON summary, and the utilization / queue plot.

The plot needs matplotlib, an optional extra (pip install 'aifactory[plot]'): the services never
need it, so it is not a dependency of every install.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from sim.metrics import TimeSeries

PLOTTING_HINT = "plotting needs matplotlib: pip install 'aifactory[plot]'"


class PlottingUnavailable(RuntimeError):
    """matplotlib is not installed; the message says how to install it."""


def require_plotting() -> None:
    """Raise PlottingUnavailable, saying how to install it, where matplotlib is missing (checked
    before a long simulation, not after)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlottingUnavailable(PLOTTING_HINT) from None


_ROWS = (
    ("jobs", "jobs", "{:d}"),
    ("succeeded", "succeeded", "{:d}"),
    ("stopped", "stopped at max runtime", "{:d}"),
    ("failed", "failed", "{:d}"),
    ("unfinished", "never finished", "{:d}"),
    ("avg_jct_s", "JCT average", "{:,.0f} s"),
    ("p50_jct_s", "JCT p50", "{:,.0f} s"),
    ("p95_jct_s", "JCT p95", "{:,.0f} s"),
    ("p99_jct_s", "JCT p99", "{:,.0f} s"),
    ("avg_queue_s", "queueing delay average", "{:,.0f} s"),
    ("makespan_s", "makespan", "{:,.0f} s"),
    ("gpu_utilization", "GPU utilization", "{:.1%}"),
    ("allocation_ratio", "GPU allocation ratio", "{:.1%}"),
    ("goodput_ratio", "goodput", "{:.1%}"),
    ("preemptions", "preemptions", "{:d}"),
    ("requeues", "requeued from lost nodes", "{:d}"),
    ("cycles", "scheduling cycles", "{:,d}"),
    # placement-only mode
    ("placed", "tasks placed", "{:,d}"),
    ("arrived_demand_ratio", "demand arrived / GPU capacity", "{:.1%}"),
    ("published_allocation_ratio", "published allocation ratio (FGD paper)", "{:.2%}"),
)


def summary_table(summary: dict[str, Any], title: str = "simulation") -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label, fmt in _ROWS:
        if summary.get(key) is not None:
            table.add_row(label, fmt.format(summary[key]))
    return table


def tenant_table(summary: dict[str, Any]) -> Table:
    table = Table(title="tenants: share received against entitlement")
    for column in ("tenant", "jobs", "share", "entitlement", "demand", "avg JCT", "avg queue"):
        table.add_column(column, justify="left" if column == "tenant" else "right")
    for tenant, t in summary.get("tenants", {}).items():
        table.add_row(
            tenant,
            str(t["jobs"]),
            f"{t['share']:.1%}",
            f"{t['entitlement']:.1%}",
            f"{t['demand_share']:.1%}",
            f"{t['avg_jct_s']:,.0f} s",
            f"{t['avg_queue_s']:,.0f} s",
        )
    return table


def write_json(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def plot(series: TimeSeries, path: Path, title: str = "") -> None:
    """Allocated GPU share and pending jobs over simulated hours (matplotlib, no display needed)."""
    require_plotting()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [t / 3600.0 for t in series.at]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    top.step(hours, [100.0 * a for a in series.allocated], where="post", color="tab:blue", linewidth=0.8)
    top.set_ylabel("GPUs allocated (%)")
    top.set_ylim(0, 105)
    bottom.step(hours, list(series.pending), where="post", color="tab:orange", linewidth=0.8)
    bottom.set_ylabel("jobs pending")
    bottom.set_xlabel("simulated time (h)")
    if title:
        top.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
