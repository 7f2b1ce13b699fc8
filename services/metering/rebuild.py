"""The rebuild command: `python -m services.metering.rebuild --tenant T [--period 2026-03 ...] [--rollups]`
(also `aifactory invoice-rebuild`).

Recomputes each invoice of the tenant (the periods given, or every period billed so far) from the raw
events kept in metering's schema, rating every event on its own, and compares it with the invoice
metering keeps: the finalized one, or the draft as its accumulated charges price it now. With
--rollups it also rebuilds the minute, hour and day rollups of each period's month from the raw events
and compares them cell by cell. Prints what it found; exits 1 when anything differs, 2 on bad input.
Reads only (one snapshot per invoice); connects to AIFACTORY_DATABASE_URL unless --database-url is given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pricing.periods import period_bounds
from services.metering.domain.errors import REFUSED_INPUT, TenantNotYetKnown
from services.metering.invoicing.adapters.rebuild_source import raw_billing_snapshot
from services.metering.invoicing.app.rebuild import InvoiceRebuild, rebuild_invoice
from services.metering.main import SCHEMA
from services.metering.settings import MeteringSettings
from services.metering.usage.adapters.archive import PostgresUsageArchive
from services.metering.usage.app.rebuild import RebuildRange, rollup_differences
from shared.db.pool import Database, create_pool

DIFFERENT, BAD_INPUT = 1, 2


@dataclass(frozen=True)
class PeriodReport:
    rebuild: InvoiceRebuild
    rollup_differences: list[str] | None  # None when not asked for

    @property
    def matches(self) -> bool:
        return self.rebuild.matches and not self.rollup_differences


async def rebuild_reports(
    database_url: str, tenant_id: str, periods: Sequence[str], *, rollups: bool
) -> list[PeriodReport]:
    db = Database(await create_pool(database_url, SCHEMA, max_size=2))
    try:
        if not periods:
            async with raw_billing_snapshot(db) as source:
                periods = await source.billed_periods(tenant_id)
        reports = []
        for period in periods:
            async with raw_billing_snapshot(db) as source:
                rebuilt = await rebuild_invoice(source, tenant_id, period)
            differences = None
            if rollups:
                start, end = period_bounds(period)
                within = RebuildRange(tenant_id, start, end)
                differences = await rollup_differences(PostgresUsageArchive(db), within)
            reports.append(PeriodReport(rebuilt, differences))
        return reports
    finally:
        await db.close()


def describe(report: PeriodReport) -> list[str]:
    rebuild = report.rebuild
    kept, rebuilt = rebuild.kept, rebuild.rebuilt
    lines = [
        f"{kept.invoice_id} ({kept.status.value}): {rebuild.raw_events} raw events, "
        f"kept total {kept.total} {kept.currency}, rebuilt total {rebuilt.total} {rebuilt.currency}, "
        f"{len(rebuilt.lines)} lines: {'same' if rebuild.matches else 'DIFFERENT'}"
    ]
    lines += [f"  {difference}" for difference in rebuild.differences]
    if report.rollup_differences is not None:
        cells = report.rollup_differences
        lines.append(
            f"  rollups of {kept.period}: {'same' if not cells else f'{len(cells)} cells DIFFERENT'}"
        )
        lines += [f"    {difference}" for difference in cells[:50]]
    return lines


def run(
    tenant_id: str,
    periods: Sequence[str],
    *,
    database_url: str | None = None,
    rollups: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """Rebuild and report; the exit code (0 when everything matches)."""
    url = database_url or MeteringSettings().database_url
    try:
        reports = asyncio.run(rebuild_reports(url, tenant_id, periods, rollups=rollups))
    except TenantNotYetKnown:
        echo(f"tenant {tenant_id} is not known to metering")
        return BAD_INPUT
    except REFUSED_INPUT as error:
        echo(str(error))
        return BAD_INPUT
    if not reports:
        echo(f"tenant {tenant_id} has nothing billed yet")
    for report in reports:
        for line in describe(report):
            echo(line)
    return 0 if all(report.matches for report in reports) else DIFFERENT


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.metering.rebuild",
        description="Recompute invoices from the raw events and compare them with the kept ones.",
    )
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--period", action="append", default=[], help="YYYY-MM; repeat; none: all")
    parser.add_argument("--rollups", action="store_true", help="also rebuild and compare the rollups")
    parser.add_argument("--database-url", help="default: AIFACTORY_DATABASE_URL")
    args = parser.parse_args(argv)
    return run(args.tenant, args.period, database_url=args.database_url, rollups=args.rollups)


if __name__ == "__main__":
    sys.exit(main())
