"""The audit log over the gateway API: `aifactory audit [--tenant T] [--action A] [--since S]`.

Newest first: who (actor, key, role) did what (action, target) when, in which request. The operator
reads every tenant's entries, or one's; a tenant's admin its own tenant's; members and viewers none.
"""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.admin_commands import TenantFilter
from services.cli.connection import ApiKey, GatewayUrl, Output, OutputFormat, respond
from services.cli.render import rows_table

AUDIT_COLUMNS = {
    "at": "at",
    "action": "action",
    "target": "target_id",
    "tenant": "tenant_id",
    "actor": "actor",
    "role": "role",
    "key": "key_id",
    "request": "request_id",
    "outcome": "outcome",
}


def audit(
    tenant: TenantFilter = None,
    action: Annotated[str | None, typer.Option(help="One action, such as job.submit or key.revoke.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Entries at or after this instant (ISO 8601 with its offset).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 100,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """The audit log, newest first: every change made through the gateway, and by whom."""
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.audit(tenant, action, since, limit),
        lambda items: rows_table("audit log", AUDIT_COLUMNS, items),
    )


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
