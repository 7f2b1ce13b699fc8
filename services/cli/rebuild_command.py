"""`aifactory invoice-rebuild`: recompute a tenant's invoices from metering's raw events and compare them
with the kept ones (services/metering/rebuild.py does the work; exit 1 when anything differs).
"""

from __future__ import annotations

from typing import Annotated

import typer


def invoice_rebuild(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    period: Annotated[
        list[str] | None, typer.Option(help="YYYY-MM (repeatable); none: every period.")
    ] = None,
    rollups: Annotated[bool, typer.Option(help="Also rebuild and compare the usage rollups.")] = False,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="AIFACTORY_DATABASE_URL", help="Metering's PostgreSQL (its schema: metering)."),
    ] = None,
) -> None:
    """Recompute invoices from the raw events; exit 1 when one differs from the kept invoice."""
    from services.metering import rebuild  # metering's modules load only for this command

    code = rebuild.run(tenant, period or [], database_url=database_url, rollups=rollups, echo=typer.echo)
    if code:
        raise typer.Exit(code)
